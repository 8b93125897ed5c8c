import uuid

from django.conf import settings
from django.db import models


class DecisionStatus(models.TextChoices):
    RECEIVED = "received"
    ROUTING = "routing"
    IN_REVIEW = "in_review"
    COMPLETED = "completed"
    FAILED = "failed"


class DecisionOutcome(models.TextChoices):
    APPROVED = "approved"
    REJECTED = "rejected"
    MODIFIED = "modified"


class RouteKind(models.TextChoices):
    AUTO_APPROVE = "auto_approve"
    AUTO_REJECT = "auto_reject"
    REVIEW = "review"
    HOLD = "hold"


class Decision(models.Model):
    """A model's decision as submitted, and what became of it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    flow = models.CharField(max_length=100)
    idempotency_key = models.CharField(max_length=200)
    submitted_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    model_name = models.CharField(max_length=200)
    model_version = models.CharField(max_length=100)
    # Null until the flow's model step has run, when the client sent `inputs` instead of a decision.
    output = models.JSONField(null=True)
    confidence = models.FloatField(null=True)
    inputs = models.JSONField(null=True, blank=True)
    payload = models.JSONField(default=dict)
    payload_sha256 = models.CharField(max_length=64)
    risk = models.JSONField(default=dict)
    # Usernames that must not review this decision (e.g. the loan officer who owns the account).
    excluded_reviewers = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=20, choices=DecisionStatus.choices, default=DecisionStatus.RECEIVED)
    route = models.CharField(max_length=20, choices=RouteKind.choices, blank=True, default="")
    explanation = models.JSONField(default=dict, blank=True)
    policy = models.ForeignKey("orchestrator.Policy", on_delete=models.PROTECT, null=True, related_name="+")
    outcome = models.CharField(max_length=20, choices=DecisionOutcome.choices, blank=True, default="")
    final_output = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["flow", "idempotency_key"], name="decision_flow_idempotency_key"),
        ]
        indexes = [models.Index(fields=["status", "created_at"], name="decision_status_created")]

    def __str__(self) -> str:
        return f"{self.flow}:{self.id}"

    @property
    def workflow_id(self) -> str:
        return f"decision-{self.id}"

from django.conf import settings
from django.db import models


class PolicyStatus(models.TextChoices):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    ACTIVE = "active"
    RETIRED = "retired"


class PolicySource(models.TextChoices):
    FLOW_DEFAULT = "flow_default"
    MANUAL = "manual"
    CALIBRATION = "calibration"


class Policy(models.Model):
    """One version of a flow's routing policy. Data, not code: compliance changes it without a deploy.

    Lifecycle: draft (editable by its author) -> submitted -> active (approved by a second person;
    the previous active version retires in the same transaction) -> retired. The spec is validated
    by `orchestrator.gates.parse_spec`; only drafts are ever edited, and every decision pins the
    version that routed it.
    """

    flow = models.CharField(max_length=100)
    version = models.PositiveIntegerField()
    status = models.CharField(max_length=20, choices=PolicyStatus.choices, default=PolicyStatus.DRAFT)
    spec = models.JSONField()
    spec_sha256 = models.CharField(max_length=64)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    activated_at = models.DateTimeField(null=True, blank=True)
    note = models.TextField(blank=True, default="")
    source = models.CharField(max_length=20, choices=PolicySource.choices, default=PolicySource.MANUAL)
    based_on_version = models.PositiveIntegerField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["flow", "version"], name="policy_flow_version"),
            models.UniqueConstraint(
                fields=["flow"], condition=models.Q(status="active"), name="policy_one_active_per_flow"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.flow} v{self.version} ({self.status})"

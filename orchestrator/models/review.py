import uuid

from django.conf import settings
from django.db import models


class TaskState(models.TextChoices):
    READY = "ready"
    RESERVED = "reserved"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class Verdict(models.TextChoices):
    APPROVE = "approve"
    REJECT = "reject"
    MODIFY = "modify"


class ReviewTask(models.Model):
    """A decision waiting in a queue for a person. Created once per decision by the workflow."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    decision = models.OneToOneField("orchestrator.Decision", on_delete=models.PROTECT, related_name="task")
    queue = models.ForeignKey("orchestrator.Queue", on_delete=models.PROTECT, related_name="tasks")
    state = models.CharField(max_length=20, choices=TaskState.choices, default=TaskState.READY)
    priority = models.IntegerField(default=0)
    tier = models.CharField(max_length=30, blank=True, default="")
    required_reviewers = models.PositiveSmallIntegerField(default=1)
    claimed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    claimed_at = models.DateTimeField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    due_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            # "next task": ready tasks of one queue, by priority then age
            models.Index(
                fields=["queue", "-priority", "created_at"],
                name="task_ready_next",
                condition=models.Q(state="ready"),
            ),
        ]

    def __str__(self) -> str:
        return f"task {self.id} ({self.state})"


class Review(models.Model):
    """A reviewer's verdict on a task. Committed with its audit event and an outbox row."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    task = models.ForeignKey(ReviewTask, on_delete=models.PROTECT, related_name="reviews")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    verdict = models.CharField(max_length=20, choices=Verdict.choices)
    reason = models.TextField(blank=True, default="")
    output = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["task", "reviewer"], name="review_one_per_reviewer"),
        ]

    def __str__(self) -> str:
        return f"{self.verdict} by {self.reviewer_id} on {self.task_id}"

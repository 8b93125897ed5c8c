"""Operations: webhook endpoints and their delivery log, outcome callbacks, degradation modes, the model
circuit breaker, the pause button and its four-eyes resume, and revocations of auto-decisions."""

import uuid

from django.conf import settings
from django.db import models


class WebhookEndpoint(models.Model):
    """A system that receives signed event notifications (chat tools are reached through this format).

    Scope: `flow` empty = every flow; `queue` null = every queue. `events` lists the event names it
    subscribes to (`["*"]` = all of them).
    """

    name = models.SlugField(max_length=100, unique=True)
    url = models.URLField(max_length=1000)
    secret = models.CharField(max_length=200)
    events = models.JSONField(default=list)
    active = models.BooleanField(default=True)
    flow = models.CharField(max_length=100, blank=True, default="")
    queue = models.ForeignKey("orchestrator.Queue", on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"webhook {self.name}"


class NotificationAttempt(models.Model):
    """One delivery attempt of a notification: the delivery log (status code, duration, error)."""

    notification = models.ForeignKey("orchestrator.Notification", on_delete=models.CASCADE, related_name="delivery_log")
    attempt = models.PositiveIntegerField()
    ok = models.BooleanField(default=False)
    status_code = models.PositiveIntegerField(null=True, blank=True)
    duration_ms = models.FloatField(default=0.0)
    error = models.TextField(blank=True, default="")
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["notification", "attempt"], name="notification_attempt")]

    def __str__(self) -> str:
        return f"attempt {self.attempt} of {self.notification_id}"


class CallbackStatus(models.TextChoices):
    DELIVERED = "delivered"
    FAILED = "failed"


class CallbackDelivery(models.Model):
    """An outcome callback of one decision: one row per (decision, callback), updated on every attempt."""

    decision = models.ForeignKey("orchestrator.Decision", on_delete=models.PROTECT, related_name="callbacks")
    callback = models.CharField(max_length=100)
    event = models.CharField(max_length=60, default="decision.finalized")
    idempotency_key = models.CharField(max_length=200)
    status = models.CharField(max_length=20, choices=CallbackStatus.choices, default=CallbackStatus.FAILED)
    attempts = models.PositiveIntegerField(default=0)
    status_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    delivered_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["decision", "callback", "event"], name="callback_one_per_event"),
        ]

    def __str__(self) -> str:
        return f"callback {self.callback} of {self.decision_id} ({self.status})"


class Mode(models.TextChoices):
    NORMAL = "normal"
    DEGRADED = "degraded"


class QueueMode(models.Model):
    """The degradation mode of one flow's work in one queue, and the load figures it was set from."""

    flow = models.CharField(max_length=100)
    queue = models.ForeignKey("orchestrator.Queue", on_delete=models.CASCADE, related_name="+")
    mode = models.CharField(max_length=20, choices=Mode.choices, default=Mode.NORMAL)
    since = models.DateTimeField()
    # Figures at the last evaluation: depth, active reviewers, handle seconds, capacity, predicted wait, sla.
    signals = models.JSONField(default=dict)
    evaluated_at = models.DateTimeField()
    forced = models.CharField(max_length=20, blank=True, default="")  # a supervisor's override: normal | degraded

    class Meta:
        constraints = [models.UniqueConstraint(fields=["flow", "queue"], name="queue_mode_flow_queue")]

    def __str__(self) -> str:
        return f"{self.flow}/{self.queue_id}: {self.mode}"


class BreakerState(models.TextChoices):
    CLOSED = "closed"  # automation as the policy says
    OPEN = "open"  # tripped: every decision goes to people
    HALF_OPEN = "half_open"  # probation: still people, watching whether the cause has gone


class FlowAutomation(models.Model):
    """Per flow: the pause button and the model circuit breaker."""

    flow = models.CharField(max_length=100, unique=True)
    paused = models.BooleanField(default=False)
    paused_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    paused_at = models.DateTimeField(null=True, blank=True)
    pause_reason = models.TextField(blank=True, default="")
    breaker = models.CharField(max_length=20, choices=BreakerState.choices, default=BreakerState.CLOSED)
    breaker_since = models.DateTimeField(null=True, blank=True)
    breaker_reason = models.TextField(blank=True, default="")
    # The confidence histogram drift is measured against (fractions per bin), and when it was taken.
    baseline = models.JSONField(default=list, blank=True)
    baseline_at = models.DateTimeField(null=True, blank=True)
    last_psi = models.FloatField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.flow}: paused={self.paused} breaker={self.breaker}"


class ModelFailure(models.Model):
    """A model failure reported for a flow (API or a model activity's error); the breaker counts them."""

    flow = models.CharField(max_length=100)
    source = models.CharField(max_length=30, default="api")
    reason = models.TextField(blank=True, default="")
    model_version = models.CharField(max_length=100, blank=True, default="")
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["flow", "at"], name="model_failure_flow_at")]

    def __str__(self) -> str:
        return f"{self.flow} failure at {self.at}"


class ResumeStatus(models.TextChoices):
    PENDING = "pending"
    APPROVED = "approved"


class ResumeRequest(models.Model):
    """A request to resume a paused flow; a different supervisor or compliance officer approves it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    flow = models.CharField(max_length=100)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    reason = models.TextField(blank=True, default="")
    status = models.CharField(max_length=20, choices=ResumeStatus.choices, default=ResumeStatus.PENDING)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    decided_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"resume {self.flow} ({self.status})"


class DecisionRevocation(models.Model):
    """An auto-decision (under degradation) that a post-hoc QA reviewer rejected within its window."""

    decision = models.OneToOneField("orchestrator.Decision", on_delete=models.PROTECT, related_name="revocation")
    review = models.ForeignKey("orchestrator.Review", on_delete=models.PROTECT, related_name="+")
    verdict = models.CharField(max_length=20)
    reason = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"revocation of {self.decision_id}"


class DegradationHold(models.Model):
    """A review task held back (suspended) by a degradation ladder; released when the queue recovers."""

    task = models.OneToOneField("orchestrator.ReviewTask", on_delete=models.CASCADE, related_name="degradation_hold")
    flow = models.CharField(max_length=100)
    queue = models.ForeignKey("orchestrator.Queue", on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    released_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["flow", "queue"], name="degradation_hold_open", condition=models.Q(released_at__isnull=True)
            )
        ]

    def __str__(self) -> str:
        return f"hold of {self.task_id}"

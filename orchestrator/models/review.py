import uuid

from django.conf import settings
from django.db import models


class TaskState(models.TextChoices):
    """WS-HumanTask states."""

    READY = "ready"
    RESERVED = "reserved"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    SUSPENDED = "suspended"
    ESCALATED = "escalated"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    INFO_REQUESTED = "info_requested"


OPEN_STATES = (
    TaskState.READY,
    TaskState.RESERVED,
    TaskState.IN_PROGRESS,
    TaskState.SUSPENDED,
    TaskState.ESCALATED,
    TaskState.INFO_REQUESTED,
)
HELD_STATES = (TaskState.RESERVED, TaskState.IN_PROGRESS)


class TaskKind(models.TextChoices):
    REVIEW = "review"
    ADJUDICATION = "adjudication"
    QA = "qa"


class Verdict(models.TextChoices):
    APPROVE = "approve"
    REJECT = "reject"
    MODIFY = "modify"


class ReviewTask(models.Model):
    """A decision waiting in a queue for people. It completes after `required_reviewers` verdicts."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    decision = models.ForeignKey("orchestrator.Decision", on_delete=models.PROTECT, related_name="tasks")
    kind = models.CharField(max_length=20, choices=TaskKind.choices, default=TaskKind.REVIEW)
    # The review step of a custom workflow ("extraction", "final"); "" for the built-in flow's review.
    step = models.CharField(max_length=100, blank=True, default="")
    parent = models.ForeignKey("self", on_delete=models.PROTECT, null=True, blank=True, related_name="children")
    queue = models.ForeignKey("orchestrator.Queue", on_delete=models.PROTECT, related_name="tasks")
    state = models.CharField(max_length=20, choices=TaskState.choices, default=TaskState.READY)
    suspended_from = models.CharField(max_length=20, blank=True, default="")
    priority = models.IntegerField(default=0)
    escalation_level = models.PositiveSmallIntegerField(default=0)
    tier = models.CharField(max_length=30, blank=True, default="")
    required_reviewers = models.PositiveSmallIntegerField(default=1)
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    claimed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    acting_for = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    claimed_at = models.DateTimeField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    due_at = models.DateTimeField(null=True, blank=True)
    info_requested_at = models.DateTimeField(null=True, blank=True)
    deadline_passed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    # The verdict that settles this task (set when it completes): agreed, or the adjudicator's.
    final_review = models.ForeignKey(
        "orchestrator.Review", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        indexes = [
            # "next task": ready tasks of one queue by escalation level, priority, due time, then age
            models.Index(
                "queue",
                models.F("escalation_level").desc(),
                models.F("priority").desc(),
                models.F("due_at").asc(nulls_last=True),
                "created_at",
                name="task_next_ready",
                condition=models.Q(state__in=["ready", "escalated"]),
            ),
            models.Index(
                fields=["lease_expires_at"], name="task_held_lease", condition=models.Q(state__in=HELD_STATES)
            ),
            models.Index(fields=["claimed_by", "state"], name="task_claimed_by"),
            models.Index(fields=["decision", "kind"], name="task_decision_kind"),
            models.Index(fields=["queue", "completed_at"], name="task_queue_completed"),
        ]

    def __str__(self) -> str:
        return f"task {self.id} ({self.state})"


class Review(models.Model):
    """One reviewer's verdict on a task. Committed with its audit event (and the outbox row when final)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    task = models.ForeignKey(ReviewTask, on_delete=models.PROTECT, related_name="reviews")
    decision = models.ForeignKey("orchestrator.Decision", on_delete=models.PROTECT, related_name="reviews")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    acting_for = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    verdict = models.CharField(max_length=20, choices=Verdict.choices)
    reason = models.CharField(max_length=200, blank=True, default="")
    comment = models.TextField(blank=True, default="")
    output = models.JSONField(null=True, blank=True)
    seconds_on_task = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            # A reviewer never reviews the same decision twice (across its review and adjudication tasks).
            models.UniqueConstraint(fields=["decision", "reviewer"], name="review_one_per_reviewer_per_decision"),
        ]

    def __str__(self) -> str:
        return f"{self.verdict} by {self.reviewer_id} on {self.task_id}"


class TaskJudgement(models.Model):
    """A reviewer's first judgement in a blind queue, given before the model's output is revealed."""

    task = models.ForeignKey(ReviewTask, on_delete=models.CASCADE, related_name="judgements")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    verdict = models.CharField(max_length=20, choices=Verdict.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["task", "reviewer"], name="judgement_one_per_reviewer")]

    def __str__(self) -> str:
        return f"blind {self.verdict} by {self.reviewer_id}"


class TaskComment(models.Model):
    task = models.ForeignKey(ReviewTask, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=20, default="comment")  # comment | info_request | info | skip
    text = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.kind} on {self.task_id}"


class TaskSkip(models.Model):
    """A reviewer passed on a task; their "next task" leaves it for others."""

    task = models.ForeignKey(ReviewTask, on_delete=models.CASCADE, related_name="skips")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["task", "reviewer"], name="skip_one_per_reviewer")]

    def __str__(self) -> str:
        return f"skip {self.task_id} by {self.reviewer_id}"


class Absence(models.Model):
    """Out of office: while it lasts, work routed to `user` goes to `delegate`, audited as acting for."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="absences")
    delegate = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ends_at__gt=models.F("starts_at")), name="absence_ends_after_start"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user_id} away {self.starts_at:%Y-%m-%d}..{self.ends_at:%Y-%m-%d}"

"""Reads for the web pages: the inbox, the supervisor's board, escalations, audit search. No writes.

Each page costs a fixed handful of queries whatever the backlog: counts and ages are aggregates
grouped by queue (one scan of the open tasks), lists are bounded and follow the `task_next_ready`
order, and nothing is fetched per row.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.db.models.functions import TruncHour
from django.utils import timezone

from orchestrator.models import (
    HELD_STATES,
    OPEN_STATES,
    AuditCheckpoint,
    AuditEvent,
    AuditExport,
    Decision,
    Policy,
    Queue,
    Review,
    ReviewTask,
    TaskState,
)
from orchestrator.selectors.tasks import open_task_counts

THROUGHPUT_HOURS = 24
TASK_LIST_LIMIT = 50
AUDIT_SEARCH_LIMIT = 100


def _group_ids(user: Any) -> QuerySet[Any]:
    return user.groups.through.objects.filter(user_id=user.pk).values("group_id")


def _member_q(user: Any) -> Q:
    return Q(members=user) | Q(member_groups__in=_group_ids(user))


def _supervisor_q(user: Any) -> Q:
    return Q(supervisors=user) | Q(supervisor_groups__in=_group_ids(user))


def queues_supervised_by(*, user: Any) -> list[Queue]:
    """Queues the user supervises (directly or through a group); every queue for a superuser."""
    queues = Queue.objects.all() if user.is_superuser else Queue.objects.filter(_supervisor_q(user)).distinct()
    return list(queues.order_by("slug"))


def queue_supervised_by(*, slug: str, user: Any) -> Queue | None:
    return next((q for q in queues_supervised_by(user=user) if q.slug == slug), None)


# --- inbox ----------------------------------------------------------------------------------------


@dataclass
class QueueSummary:
    """A queue's open work as one row of the inbox or the board."""

    slug: str
    name: str
    description: str
    is_member: bool = False
    ready: int = 0
    held: int = 0
    suspended: int = 0
    info_requested: int = 0
    escalated: int = 0
    oldest_ready_at: datetime | None = None
    sla_at_risk: int = 0
    sla_breached: int = 0
    wip_cap: int = 0
    default_sla_seconds: int | None = None
    throughput: list[int] = field(default_factory=list)  # completed per hour, oldest hour first
    completed_24h: int = 0
    load: list[tuple[str, int]] = field(default_factory=list)  # (reviewer, open tasks held)
    id: int = 0

    @property
    def open(self) -> int:
        return self.ready + self.held + self.suspended + self.info_requested + self.escalated


def _summaries(queues: list[Queue], *, now: datetime, members: set[int] | None = None) -> list[QueueSummary]:
    """Counts per queue in one grouped aggregate over the open tasks."""
    rows = {
        q.pk: QueueSummary(
            id=q.pk,
            slug=q.slug,
            name=q.name,
            description=q.description,
            is_member=bool(members and q.pk in members),
            wip_cap=q.wip_cap,
            default_sla_seconds=q.default_sla_seconds,
        )
        for q in queues
    }
    if not rows:
        return []
    counts = (
        ReviewTask.objects.filter(queue_id__in=list(rows), state__in=OPEN_STATES)
        .values("queue_id")
        .annotate(**open_task_counts(now=now))
        .order_by()
    )
    for row in counts:
        summary = rows[row.pop("queue_id")]
        for key, value in row.items():
            setattr(summary, key, value)
    return list(rows.values())


def inbox_queues(*, user: Any, now: datetime | None = None) -> list[QueueSummary]:
    """The queues the user works or supervises, with depth, oldest ready age and SLA at risk/breached."""
    now = now or timezone.now()
    queues = list(
        Queue.objects.filter(_member_q(user) | _supervisor_q(user))
        .distinct()
        .annotate(
            caller_is_member=Exists(Queue.members.through.objects.filter(queue=OuterRef("pk"), user_id=user.pk))
            | Exists(Queue.member_groups.through.objects.filter(queue=OuterRef("pk"), group_id__in=_group_ids(user)))
        )
        .order_by("slug")
    )
    members = {q.pk for q in queues if q.caller_is_member}  # type: ignore[attr-defined]
    return _summaries(queues, now=now, members=members)


def tasks_held_by(*, user: Any) -> list[ReviewTask]:
    """Tasks the user holds (reserved or in progress), oldest claim first."""
    return list(
        ReviewTask.objects.filter(claimed_by=user, state__in=HELD_STATES)
        .select_related("decision", "queue")
        .order_by("claimed_at")
    )


# --- supervisor board -----------------------------------------------------------------------------


def _hour_floor(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def queue_board(*, queues: list[Queue], now: datetime | None = None) -> list[QueueSummary]:
    """Each queue's counts, completed tasks per hour over the last day, and open tasks per reviewer."""
    now = now or timezone.now()
    summaries = _summaries(queues, now=now)
    by_id = {s.id: s for s in summaries}
    if not by_id:
        return []
    first_hour = _hour_floor(now) - timedelta(hours=THROUGHPUT_HOURS - 1)
    for summary in summaries:
        summary.throughput = [0] * THROUGHPUT_HOURS
    per_hour = (
        ReviewTask.objects.filter(queue_id__in=list(by_id), state=TaskState.COMPLETED, completed_at__gte=first_hour)
        .annotate(hour=TruncHour("completed_at"))
        .values("queue_id", "hour")
        .annotate(n=Count("pk"))
        .order_by()
    )
    for row in per_hour:
        index = int((row["hour"] - first_hour).total_seconds() // 3600)
        if 0 <= index < THROUGHPUT_HOURS:
            by_id[row["queue_id"]].throughput[index] += row["n"]
    for summary in summaries:
        summary.completed_24h = sum(summary.throughput)
    load = (
        ReviewTask.objects.filter(queue_id__in=list(by_id), state__in=HELD_STATES)
        .values("queue_id", "claimed_by__username")
        .annotate(n=Count("pk"))
        .order_by("queue_id", "-n", "claimed_by__username")
    )
    for row in load:
        by_id[row["queue_id"]].load.append((row["claimed_by__username"] or "—", row["n"]))
    return summaries


TASK_LIST_STATES = {
    "open": OPEN_STATES,
    "ready": (TaskState.READY,),
    "held": HELD_STATES,
    "suspended": (TaskState.SUSPENDED,),
    "info_requested": (TaskState.INFO_REQUESTED,),
    "escalated": (TaskState.ESCALATED,),
}


def queue_tasks(*, queue: Queue, state: str = "open", limit: int = TASK_LIST_LIMIT) -> list[ReviewTask]:
    """The queue's first open tasks in "next task" order (escalation, priority, due time, age)."""
    states = TASK_LIST_STATES.get(state, OPEN_STATES)
    order = ("-escalation_level", "-priority", "due_at", "created_at")

    def first(*chosen: str) -> list[ReviewTask]:
        tasks = ReviewTask.objects.filter(queue=queue, state__in=chosen)
        return list(
            tasks.select_related("decision", "claimed_by", "assigned_to")
            .defer("decision__payload", "decision__explanation", "decision__risk", "decision__output")
            .order_by(*order)[:limit]
        )

    if TaskState.READY not in states or len(states) == 1:
        return first(*states)
    # Ready tasks are the deep part: read them over the `task_next_ready` index, the few others apart,
    # and merge in the same order (a sort over every open task grows with the backlog).
    merged = first(TaskState.READY) + first(*(s for s in states if s != TaskState.READY))
    far = timezone.now() + timedelta(days=36500)
    merged.sort(key=lambda t: (-t.escalation_level, -t.priority, t.due_at or far, t.created_at))
    return merged[:limit]


def queue_reviewers(*, queue: Queue) -> list[Any]:
    """People who work the queue (directly or through a group): who a task may be reassigned to."""
    User = get_user_model()
    return list(
        User.objects.filter(Q(review_queues=queue) | Q(groups__in=queue.member_groups.values("pk")), is_active=True)
        .distinct()
        .order_by("username")
    )


def tasks_escalated(*, queues: list[Queue], limit: int = TASK_LIST_LIMIT) -> list[ReviewTask]:
    """Open tasks that were escalated (state or level), highest level and oldest due first."""
    return list(
        ReviewTask.objects.filter(queue__in=queues, state__in=OPEN_STATES)
        .filter(Q(escalation_level__gt=0) | Q(state=TaskState.ESCALATED))
        .select_related("decision", "queue", "claimed_by")
        .defer("decision__payload", "decision__explanation", "decision__risk", "decision__output")
        .order_by("-escalation_level", "due_at", "created_at")[:limit]
    )


def degradation_status() -> list[dict[str, Any]]:
    """Degradation modes and breaker state of every flow and queue (the board's panel)."""
    # Imported here: the degradation selectors use `queues_supervised_by` from this module.
    from orchestrator.selectors.degradation import degradation_overview

    return degradation_overview()


# --- the task page --------------------------------------------------------------------------------


def decision_reviews(*, decision_id: Any) -> list[Review]:
    """Every verdict given on the decision (all its tasks), oldest first."""
    return list(
        Review.objects.filter(decision_id=decision_id).select_related("reviewer", "task").order_by("created_at")
    )


# --- compliance -----------------------------------------------------------------------------------


AUDIT_FILTERS = ("flow", "actor", "queue", "kind", "outcome", "policy_version", "model_version")


def audit_search(
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    decision_id: Any = None,
    limit: int = AUDIT_SEARCH_LIMIT,
    **equals: str,
) -> list[AuditEvent]:
    """The newest events matching every filter given (exact match; `until` exclusive), newest first."""
    events = AuditEvent.objects.all()
    if since:
        events = events.filter(occurred_at__gte=since)
    if until:
        events = events.filter(occurred_at__lt=until)
    if decision_id:
        events = events.filter(decision_id=decision_id)
    for name in AUDIT_FILTERS:
        if equals.get(name):
            events = events.filter(**{name: equals[name]})
    return list(events.defer("body", "context").order_by("-occurred_at", "-id")[:limit])


def decision_for_timeline(*, decision_id: Any) -> Decision | None:
    return Decision.objects.select_related("policy", "submitted_by").filter(pk=decision_id).first()


def decision_tasks(*, decision_id: Any) -> list[ReviewTask]:
    return list(
        ReviewTask.objects.filter(decision_id=decision_id).select_related("queue", "claimed_by").order_by("created_at")
    )


def audit_exports_of(*, user: Any, limit: int = 20) -> list[AuditExport]:
    return list(AuditExport.objects.filter(requested_by=user).order_by("-created_at")[:limit])


def policy_flows() -> list[str]:
    return list(Policy.objects.values_list("flow", flat=True).distinct().order_by("flow"))


def audit_checkpoint_latest() -> AuditCheckpoint | None:
    return AuditCheckpoint.objects.order_by("-id").first()

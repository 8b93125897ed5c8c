"""Reads about tasks: one task for a viewer, what a viewer may see of it, queue statistics."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, Min, Q
from django.utils import timezone

from orchestrator.models import HELD_STATES, OPEN_STATES, Queue, ReviewTask, TaskComment, TaskJudgement, TaskState


def task_get_visible(*, task_id: Any, user: Any) -> ReviewTask | None:
    """A task the user may look at: in a queue they work or supervise (directly or through a group)."""
    tasks = ReviewTask.objects.filter(pk=task_id).select_related(
        "decision", "queue", "claimed_by", "assigned_to", "acting_for", "decision__policy"
    )
    if not user.is_superuser:
        groups = user.groups.values("pk")
        tasks = tasks.filter(
            Q(queue__members=user)
            | Q(queue__supervisors=user)
            | Q(queue__member_groups__in=groups)
            | Q(queue__supervisor_groups__in=groups)
        ).distinct()
    return tasks.first()


def task_model_output_hidden(*, task: ReviewTask, user: Any) -> bool:
    """Blind review: the model's output stays hidden until this reviewer gave a first judgement."""
    if not task.queue.blind_review or task.state == TaskState.COMPLETED:
        return False
    return not TaskJudgement.objects.filter(task=task, reviewer=user).exists()


def task_comments(*, task_id: Any) -> list[TaskComment]:
    return list(TaskComment.objects.filter(task_id=task_id).select_related("author").order_by("created_at"))


SLA_AT_RISK_WITHIN = timedelta(minutes=30)


def open_task_counts(*, now: datetime, at_risk_within: timedelta = SLA_AT_RISK_WITHIN) -> dict[str, Any]:
    """Aggregates over a queue's open tasks (the API's queue stats, the inbox and the board): depth by
    state, the oldest ready task, and how many are past their due time or due within `at_risk_within`."""
    return {
        "ready": Count("pk", filter=Q(state=TaskState.READY)),
        "held": Count("pk", filter=Q(state__in=HELD_STATES)),
        "suspended": Count("pk", filter=Q(state=TaskState.SUSPENDED)),
        "info_requested": Count("pk", filter=Q(state=TaskState.INFO_REQUESTED)),
        "escalated": Count("pk", filter=Q(state=TaskState.ESCALATED)),
        "oldest_ready_at": Min("created_at", filter=Q(state=TaskState.READY)),
        "sla_breached": Count("pk", filter=Q(due_at__lte=now)),
        "sla_at_risk": Count("pk", filter=Q(due_at__gt=now, due_at__lte=now + at_risk_within)),
    }


@dataclass(frozen=True)
class QueueStats:
    slug: str
    name: str
    ready: int
    held: int
    suspended: int
    info_requested: int
    escalated: int
    oldest_ready_at: datetime | None
    sla_at_risk: int
    sla_breached: int
    load: dict[str, int]


def queue_stats(*, queue: Queue, at_risk_within: timedelta = SLA_AT_RISK_WITHIN) -> QueueStats:
    """Depth by state, oldest ready task, SLA at risk/breached, open tasks held per reviewer."""
    open_tasks = ReviewTask.objects.filter(queue=queue, state__in=OPEN_STATES)
    counts = open_tasks.aggregate(**open_task_counts(now=timezone.now(), at_risk_within=at_risk_within))
    load = dict(
        open_tasks.filter(state__in=HELD_STATES)
        .values_list("claimed_by__username")
        .annotate(n=Count("pk"))
        .order_by("claimed_by__username")
    )
    return QueueStats(slug=queue.slug, name=queue.name, load=load, **counts)

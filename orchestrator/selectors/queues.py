from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Count, Min, Q

from orchestrator.models import Queue, TaskState


@dataclass(frozen=True)
class QueueDepth:
    slug: str
    name: str
    description: str
    ready: int
    reserved: int
    oldest_ready_at: datetime | None


def queue_depths_for(*, user: Any) -> list[QueueDepth]:
    """The queues the user works or supervises, with their ready/reserved counts and oldest ready task."""
    queues = (
        Queue.objects.filter(Q(members=user) | Q(supervisors=user))
        .distinct()
        .annotate(
            ready=Count("tasks", filter=Q(tasks__state=TaskState.READY)),
            reserved=Count("tasks", filter=Q(tasks__state=TaskState.RESERVED)),
            oldest_ready_at=Min("tasks__created_at", filter=Q(tasks__state=TaskState.READY)),
        )
        .order_by("slug")
    )
    return [
        QueueDepth(q.slug, q.name, q.description, q.ready, q.reserved, q.oldest_ready_at)  # type: ignore[attr-defined]
        for q in queues
    ]

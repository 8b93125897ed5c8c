"""Task writes: claiming the next task of a queue."""

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from orchestrator.audit.chain import audit_append
from orchestrator.errors import NotFound, PermissionDenied
from orchestrator.models import Queue, ReviewTask, TaskState


def _queue_for_member(*, queue_slug: str, user: Any) -> Queue:
    queue = Queue.objects.filter(slug=queue_slug).first()
    if queue is None:
        raise NotFound(f"queue {queue_slug!r} does not exist", field="queue")
    if not queue.members.filter(pk=user.pk).exists():
        raise PermissionDenied(f"you are not a member of queue {queue_slug!r}", field="queue")
    return queue


@transaction.atomic
def task_claim_next(*, queue_slug: str, user: Any) -> ReviewTask | None:
    """Reserve the caller's next task: the one they already hold, else the first ready one.

    Order: priority (high first), then age. Concurrent claimers skip each other's locked rows, so
    two reviewers never get the same task. A task whose lease ran out counts as ready again.
    """
    queue = _queue_for_member(queue_slug=queue_slug, user=user)
    now = timezone.now()
    held = (
        ReviewTask.objects.filter(queue=queue, state=TaskState.RESERVED, claimed_by=user, lease_expires_at__gt=now)
        .order_by("claimed_at")
        .first()
    )
    if held is not None:
        return held
    task = (
        ReviewTask.objects.select_for_update(skip_locked=True)
        .filter(queue=queue)
        .filter(Q(state=TaskState.READY) | Q(state=TaskState.RESERVED, lease_expires_at__lte=now))
        .exclude(decision__submitted_by=user)
        .order_by("-priority", "created_at")
        .first()
    )
    if task is None:
        return None
    if task.state == TaskState.RESERVED:
        audit_append(
            kind="task.lease_expired",
            actor="system",
            decision_id=task.decision_id,
            queue=queue.slug,
            subject_type="task",
            subject_id=str(task.id),
            data={"claimed_by_id": task.claimed_by_id, "lease_expired_at": task.lease_expires_at.isoformat()},
        )
    task.state = TaskState.RESERVED
    task.claimed_by = user
    task.claimed_at = now
    task.lease_expires_at = now + timedelta(seconds=settings.HANDRAIL_CLAIM_LEASE_SECONDS)
    task.save(update_fields=["state", "claimed_by", "claimed_at", "lease_expires_at"])
    audit_append(
        kind="task.claimed",
        actor=user,
        decision_id=task.decision_id,
        queue=queue.slug,
        subject_type="task",
        subject_id=str(task.id),
        data={"lease_expires_at": task.lease_expires_at.isoformat()},
    )
    return task

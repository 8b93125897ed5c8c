"""The rules every path to a task goes through: who may see, claim and decide it, and legal transitions.

One choke point for four-eyes and separation of duties: `reviewer_refusal` is called by claiming,
reassigning, delegating, bulk actions and verdicts alike.
"""

from datetime import datetime
from typing import Any

from django.utils import timezone

from orchestrator.errors import ConflictError, NotFound, PermissionDenied, TaskStateError
from orchestrator.models import OPEN_STATES, Absence, Queue, Review, ReviewTask, TaskState
from orchestrator.selectors.users import ROLE_SERVICE, user_has_role

_HELD = (TaskState.RESERVED, TaskState.IN_PROGRESS)
_WORKABLE = (TaskState.READY, *_HELD, TaskState.ESCALATED)

# action -> states it may start from. Anything else is refused with 409 and the current state.
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "claim": (TaskState.READY, TaskState.ESCALATED),
    "start": (TaskState.RESERVED,),
    "renew": _HELD,
    "release": _HELD,
    "skip": _HELD,
    "judge": _HELD,
    "decide": _HELD,
    "request_info": _HELD,
    "provide_info": (TaskState.INFO_REQUESTED,),
    "reassign": _WORKABLE,
    "suspend": (*_WORKABLE, TaskState.INFO_REQUESTED),
    "resume": (TaskState.SUSPENDED,),
    "set_priority": OPEN_STATES,
    "cancel": OPEN_STATES,
}


CLAIM_FIELDS = ["claimed_by", "acting_for", "claimed_at", "lease_expires_at"]


def clear_claim(task: ReviewTask) -> None:
    """Forget who holds the task (the caller sets the new state and saves, with CLAIM_FIELDS)."""
    task.claimed_by = None
    task.acting_for = None
    task.claimed_at = None
    task.lease_expires_at = None


def lock_held_task(*, task_id: Any, user: Any, action: str) -> ReviewTask:
    """Lock a task for an action only the reviewer holding it may take."""
    task = task_lock(task_id=task_id)
    require_transition(task, action)
    require_holder(task, user)
    return task


def require_transition(task: ReviewTask, action: str) -> None:
    if task.state not in TRANSITIONS[action]:
        raise TaskStateError(
            f"cannot {action.replace('_', ' ')} a task that is {task.state}", field="task", state=task.state
        )


def task_lock(*, task_id: Any) -> ReviewTask:
    task = (
        ReviewTask.objects.select_for_update(of=("self",))
        .select_related("decision", "queue", "claimed_by")
        .filter(pk=task_id)
        .first()
    )
    if task is None:
        raise NotFound(f"task {task_id} does not exist", field="task")
    return task


def is_member(*, queue: Queue, user: Any) -> bool:
    return (
        queue.members.filter(pk=user.pk).exists()
        or queue.member_groups.filter(pk__in=user.groups.values("pk")).exists()
    )


def is_supervisor(*, queue: Queue, user: Any) -> bool:
    if user.is_superuser:
        return True
    return (
        queue.supervisors.filter(pk=user.pk).exists()
        or queue.supervisor_groups.filter(pk__in=user.groups.values("pk")).exists()
    )


def require_supervisor(*, queue: Queue, user: Any) -> None:
    if not is_supervisor(queue=queue, user=user):
        raise PermissionDenied(f"only supervisors of queue {queue.slug!r} may do this", field="queue")


def require_holder(task: ReviewTask, user: Any, *, now: datetime | None = None) -> None:
    """The caller must hold a live claim on the task."""
    if task.claimed_by_id != user.pk:
        reason = "task is claimed by another reviewer" if task.claimed_by_id else "task is not claimed by you"
        raise ConflictError(reason, field="task", state=task.state)
    if task.lease_expires_at is not None and task.lease_expires_at <= (now or timezone.now()):
        raise ConflictError("your claim on this task expired; claim it again", field="task", state="expired")


def reviewer_refusal(*, task: ReviewTask, user: Any) -> str | None:
    """Why `user` may not review this task, or None. The single four-eyes / SoD choke point."""
    decision = task.decision
    if not user.is_active:
        return "inactive users cannot review"
    if decision.submitted_by_id == user.pk:
        return "the account that submitted a decision cannot review it"
    if user_has_role(user=user, role=ROLE_SERVICE) and not user.is_superuser:
        return "service accounts cannot review decisions"
    if user.get_username() in (decision.excluded_reviewers or []):
        return "you are excluded from reviewing this decision"
    if Review.objects.filter(decision=decision, reviewer=user).exists():
        return "you already reviewed this decision"
    if not is_member(queue=task.queue, user=user):
        return f"you are not a member of queue {task.queue.slug!r}"
    return None


def require_reviewer(*, task: ReviewTask, user: Any) -> None:
    refusal = reviewer_refusal(task=task, user=user)
    if refusal:
        raise PermissionDenied(refusal, field="reviewer")


def absence_delegate(*, user: Any, at: datetime | None = None) -> Any | None:
    """The delegate standing in for `user` now, if they are away."""
    now = at or timezone.now()
    absence = (
        Absence.objects.filter(user=user, starts_at__lte=now, ends_at__gt=now)
        .select_related("delegate")
        .order_by("-created_at")
        .first()
    )
    return absence.delegate if absence else None

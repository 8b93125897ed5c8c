"""Task lifecycle writes (WS-HumanTask): claim, start, renew, release, skip, info, comments, supervision.

Every transition is one transaction with its audit event; an illegal one is refused with the task's
current state (409). Who may review is decided in one place: `task_rules.reviewer_refusal`.
"""

import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from orchestrator.audit.chain import audit_append
from orchestrator.errors import ConflictError, DomainError, NotFound, PermissionDenied, ValidationFailed
from orchestrator.models import (
    HELD_STATES,
    ReviewTask,
    TaskComment,
    TaskJudgement,
    TaskSkip,
    TaskState,
    Verdict,
)
from orchestrator.prepared import prepared_cursor
from orchestrator.services.claim_sql import CLAIM_READY, QUEUE_FOR_CLAIM, RENEW_HELD, TASK_ATTNAMES
from orchestrator.services.task_rules import (
    CLAIM_FIELDS,
    absence_delegate,
    clear_claim,
    is_member,
    lock_held_task,
    require_holder,
    require_reviewer,
    require_supervisor,
    require_transition,
    task_lock,
)


def task_audit(task: ReviewTask, *, kind: str, actor: Any, data: dict[str, Any] | None = None, **extra: Any) -> None:
    audit_append(
        kind=kind,
        actor=actor,
        decision_id=task.decision_id,
        flow=task.decision.flow,
        queue=task.queue.slug,
        subject_type="task",
        subject_id=str(task.id),
        data={"state": task.state, **(data or {})},
        **extra,
    )


def _lease_from(now: Any) -> Any:
    return now + timedelta(seconds=settings.HANDRAIL_CLAIM_LEASE_SECONDS)


def _reserve(task: ReviewTask, user: Any, *, acting_for: Any = None) -> None:
    now = timezone.now()
    task.state = TaskState.RESERVED
    task.claimed_by = user
    task.acting_for = acting_for
    task.claimed_at = now
    task.lease_expires_at = _lease_from(now)
    task.save(update_fields=["state", "claimed_by", "acting_for", "claimed_at", "lease_expires_at"])


def _unreserve(task: ReviewTask) -> None:
    task.state = TaskState.READY
    clear_claim(task)
    task.save(update_fields=["state", *CLAIM_FIELDS])


def _require_wip_room(*, queue_slug: str, held: int, cap: int) -> None:
    """409 when the reviewer already holds as many tasks in the queue as its WIP cap allows (0: no cap)."""
    if cap and held >= cap:
        raise ConflictError(
            f"you already hold {held} task(s) in {queue_slug!r}; the queue allows {cap}",
            field="queue",
            state="wip_cap_reached",
        )


@transaction.atomic
def task_claim_next(*, queue_slug: str, user: Any) -> ReviewTask | None:
    """Reserve the caller's next task: one they already hold (its lease renewed), else the first
    eligible ready one.

    Order: escalation level, priority (both high first), due time, then age. Concurrent claimers
    skip each other's locked rows (SKIP LOCKED), so two reviewers never get the same task. Two
    prepared statements do the work (see `claim_sql`): one reads the queue, membership, the held
    task and the WIP count; one reserves the task.
    """
    now = timezone.now()
    params: dict[str, Any] = {"slug": queue_slug, "user": user.pk, "now": now, "lease": _lease_from(now)}
    with prepared_cursor() as cursor:
        cursor.execute(QUEUE_FOR_CLAIM, params, prepare=True)
        found = cursor.fetchone()
        if found is None:
            raise NotFound(f"queue {queue_slug!r} does not exist", field="queue")
        queue_id, wip_cap, member, held_id, held_count, standing_in_for = found
        if not member:
            raise PermissionDenied(f"you are not a member of queue {queue_slug!r}", field="queue")
        if held_id is not None:
            cursor.execute(RENEW_HELD, {**params, "task": held_id}, prepare=True)
            if (held := cursor.fetchone()) is not None:
                return ReviewTask.from_db(connection.alias, TASK_ATTNAMES, held)
        _require_wip_room(queue_slug=queue_slug, held=held_count, cap=wip_cap)
        params.update(queue=queue_id, standing_in_for=standing_in_for, username=json.dumps([user.get_username()]))
        cursor.execute(CLAIM_READY, params, prepare=True)
        claimed = cursor.fetchone()
    if claimed is None:
        return None
    flow, *values = claimed
    task = ReviewTask.from_db(connection.alias, TASK_ATTNAMES, values)
    audit_append(
        kind="task.claimed",
        actor=user,
        decision_id=task.decision_id,
        flow=flow,
        queue=queue_slug,
        subject_type="task",
        subject_id=str(task.id),
        data={"state": TaskState.RESERVED, "lease_expires_at": task.lease_expires_at.isoformat()},
    )
    return task


@transaction.atomic
def task_claim(*, task_id: Any, user: Any) -> ReviewTask:
    """Reserve a specific task."""
    task = task_lock(task_id=task_id)
    if task.state in HELD_STATES and task.claimed_by_id == user.pk:
        return task
    require_transition(task, "claim")
    require_reviewer(task=task, user=user)
    if task.assigned_to_id and task.assigned_to_id != user.pk:
        raise ConflictError("this task is assigned to another reviewer", field="task", state=task.state)
    queue = task.queue
    if queue.wip_cap:
        held = ReviewTask.objects.filter(queue=queue, claimed_by=user, state__in=HELD_STATES).count()
        _require_wip_room(queue_slug=queue.slug, held=held, cap=queue.wip_cap)
    _reserve(task, user)
    task_audit(task, kind="task.claimed", actor=user, data={"lease_expires_at": task.lease_expires_at.isoformat()})
    return task


@transaction.atomic
def task_start(*, task_id: Any, user: Any) -> ReviewTask:
    """The reviewer opened the task and works on it (reserved -> in_progress)."""
    task = task_lock(task_id=task_id)
    if task.state == TaskState.IN_PROGRESS and task.claimed_by_id == user.pk:
        return task
    require_transition(task, "start")
    require_holder(task, user)
    task.state = TaskState.IN_PROGRESS
    task.lease_expires_at = _lease_from(timezone.now())
    task.save(update_fields=["state", "lease_expires_at"])
    task_audit(task, kind="task.started", actor=user)
    return task


@transaction.atomic
def task_renew_lease(*, task_id: Any, user: Any) -> ReviewTask:
    """Extend the caller's claim (the UI renews while the reviewer is active). Not audited per renewal."""
    task = lock_held_task(task_id=task_id, user=user, action="renew")
    task.lease_expires_at = _lease_from(timezone.now())
    task.save(update_fields=["lease_expires_at"])
    return task


@transaction.atomic
def task_release(*, task_id: Any, user: Any) -> ReviewTask:
    """Give a held task back to the queue."""
    task = lock_held_task(task_id=task_id, user=user, action="release")
    _unreserve(task)
    task_audit(task, kind="task.released", actor=user)
    return task


@transaction.atomic
def task_skip(*, task_id: Any, user: Any, note: str) -> ReviewTask:
    """Pass on a held task with a note; the caller's "next task" will leave it to others."""
    if not note.strip():
        raise ValidationFailed("say why you skip this task", field="note")
    task = lock_held_task(task_id=task_id, user=user, action="skip")
    TaskSkip.objects.get_or_create(task=task, reviewer=user)
    TaskComment.objects.create(task=task, author=user, kind="skip", text=note)
    _unreserve(task)
    task_audit(task, kind="task.skipped", actor=user, data={"note": note})
    return task


@transaction.atomic
def task_judge_blind(*, task_id: Any, user: Any, verdict: str) -> TaskJudgement:
    """Record the reviewer's first judgement in a blind queue; the model's output is shown after it."""
    if verdict not in Verdict.values:
        raise ValidationFailed(f"must be one of {', '.join(Verdict.values)}", field="verdict")
    task = lock_held_task(task_id=task_id, user=user, action="judge")
    if not task.queue.blind_review:
        raise ConflictError("this queue does not review blind", field="task", state=task.state)
    judgement, created = TaskJudgement.objects.get_or_create(task=task, reviewer=user, defaults={"verdict": verdict})
    if not created:
        raise ConflictError("you already gave your first judgement", field="verdict", state=task.state)
    task_audit(task, kind="task.blind_judgement", actor=user, data={"verdict": verdict})
    return judgement


@transaction.atomic
def task_request_info(*, task_id: Any, user: Any, question: str) -> ReviewTask:
    """Ask the submitting system for more information; the task waits and the SLA clock is noted."""
    if not question.strip():
        raise ValidationFailed("say what information you need", field="question")
    task = lock_held_task(task_id=task_id, user=user, action="request_info")
    task.state = TaskState.INFO_REQUESTED
    task.info_requested_at = timezone.now()
    task.save(update_fields=["state", "info_requested_at"])
    TaskComment.objects.create(task=task, author=user, kind="info_request", text=question)
    task_audit(
        task,
        kind="task.info_requested",
        actor=user,
        data={"question": question, "due_at": task.due_at.isoformat() if task.due_at else None},
    )
    return task


@transaction.atomic
def task_provide_info(*, task_id: Any, user: Any, info: str) -> ReviewTask:
    """Answer an info request (the submitter, a supervisor or the asking reviewer); the task returns to
    the reviewer who asked, with a fresh lease."""
    if not info.strip():
        raise ValidationFailed("the information is empty", field="info")
    task = task_lock(task_id=task_id)
    require_transition(task, "provide_info")
    allowed = (
        user.pk in (task.decision.submitted_by_id, task.claimed_by_id)
        or task.queue.supervisors.filter(pk=user.pk).exists()
        or user.is_superuser
    )
    if not allowed:
        raise PermissionDenied("only the submitter, the asking reviewer or a supervisor may answer", field="task")
    waited = (timezone.now() - task.info_requested_at).total_seconds() if task.info_requested_at else None
    TaskComment.objects.create(task=task, author=user, kind="info", text=info)
    if task.claimed_by_id:
        task.state = TaskState.RESERVED
        task.lease_expires_at = _lease_from(timezone.now())
        task.save(update_fields=["state", "lease_expires_at"])
    else:
        _unreserve(task)
    task_audit(task, kind="task.info_provided", actor=user, data={"seconds_waited": waited})
    return task


@transaction.atomic
def task_comment(*, task_id: Any, user: Any, text: str) -> TaskComment:
    """A comment on a task, by anyone who may see it."""
    if not text.strip():
        raise ValidationFailed("the comment is empty", field="text")
    task = task_lock(task_id=task_id)
    if not (is_member(queue=task.queue, user=user) or task.queue.supervisors.filter(pk=user.pk).exists()):
        raise PermissionDenied("you may not comment on tasks of this queue", field="task")
    comment = TaskComment.objects.create(task=task, author=user, text=text)
    task_audit(task, kind="task.commented", actor=user, data={"comment_id": comment.pk})
    return comment


# --- supervision ----------------------------------------------------------------------------------


@transaction.atomic
def task_reassign(*, task_id: Any, supervisor: Any, to_user: Any) -> ReviewTask:
    """Give a task to a named reviewer (reserved for them). An absent reviewer's delegate gets it,
    acting for them. The new holder must pass the same four-eyes checks as anyone claiming."""
    task = task_lock(task_id=task_id)
    require_supervisor(queue=task.queue, user=supervisor)
    require_transition(task, "reassign")
    delegate = absence_delegate(user=to_user)
    holder = delegate or to_user
    require_reviewer(task=task, user=holder)
    previous = task.claimed_by.get_username() if task.claimed_by else None
    task.assigned_to = to_user
    task.save(update_fields=["assigned_to"])
    _reserve(task, holder, acting_for=to_user if delegate else None)
    task_audit(
        task,
        kind="task.reassigned",
        actor=supervisor,
        data={
            "from": previous,
            "to": holder.get_username(),
            "acting_for": to_user.get_username() if delegate else None,
        },
    )
    return task


@transaction.atomic
def task_suspend(*, task_id: Any, supervisor: Any, reason: str = "") -> ReviewTask:
    task = task_lock(task_id=task_id)
    require_supervisor(queue=task.queue, user=supervisor)
    require_transition(task, "suspend")
    task.suspended_from = task.state
    task.state = TaskState.SUSPENDED
    task.save(update_fields=["state", "suspended_from"])
    task_audit(task, kind="task.suspended", actor=supervisor, data={"reason": reason, "from": task.suspended_from})
    return task


@transaction.atomic
def task_resume(*, task_id: Any, supervisor: Any) -> ReviewTask:
    task = task_lock(task_id=task_id)
    require_supervisor(queue=task.queue, user=supervisor)
    require_transition(task, "resume")
    back_to = task.suspended_from or TaskState.READY
    if back_to in HELD_STATES:
        # The claim may have lapsed while suspended: the holder gets a fresh lease.
        task.lease_expires_at = _lease_from(timezone.now())
    task.state = back_to
    task.suspended_from = ""
    task.save(update_fields=["state", "suspended_from", "lease_expires_at"])
    task_audit(task, kind="task.resumed", actor=supervisor)
    return task


@transaction.atomic
def task_set_priority(*, task_id: Any, supervisor: Any, priority: int) -> ReviewTask:
    task = task_lock(task_id=task_id)
    require_supervisor(queue=task.queue, user=supervisor)
    require_transition(task, "set_priority")
    before = task.priority
    task.priority = priority
    task.save(update_fields=["priority"])
    task_audit(task, kind="task.priority_changed", actor=supervisor, data={"before": before, "after": priority})
    return task


@transaction.atomic
def task_cancel(*, task_id: Any, actor: Any, reason: str) -> ReviewTask:
    """Cancel an open task (a supervisor, or the system when its decision is settled otherwise)."""
    task = task_lock(task_id=task_id)
    if not isinstance(actor, str):
        require_supervisor(queue=task.queue, user=actor)
    require_transition(task, "cancel")
    task.state = TaskState.CANCELLED
    task.completed_at = timezone.now()
    task.save(update_fields=["state", "completed_at"])
    task_audit(task, kind="task.cancelled", actor=actor, data={"reason": reason})
    return task


@transaction.atomic
def task_expire_lease(*, task_id: Any) -> bool:
    """Return a task whose claim ran out to the queue, audited (never a silent unlock)."""
    task = task_lock(task_id=task_id)
    now = timezone.now()
    if task.state not in HELD_STATES or task.lease_expires_at is None or task.lease_expires_at > now:
        return False
    holder = task.claimed_by.get_username() if task.claimed_by else None
    expired_at = task.lease_expires_at
    _unreserve(task)
    task_audit(
        task, kind="task.lease_expired", actor="system", data={"held_by": holder, "expired_at": expired_at.isoformat()}
    )
    return True


def task_expire_leases(*, limit: int = 1000) -> int:
    """The sweeper: every lapsed claim goes back to its queue. Returns how many."""
    due = list(
        ReviewTask.objects.filter(state__in=HELD_STATES, lease_expires_at__lte=timezone.now())
        .order_by("lease_expires_at")
        .values_list("pk", flat=True)[:limit]
    )
    return sum(1 for pk in due if task_expire_lease(task_id=pk))


# --- bulk -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BulkItemResult:
    task_id: str
    ok: bool
    error: str | None = None
    reason: str | None = None
    state: str | None = None


def _each(task_ids: list[Any], action: Any) -> list[BulkItemResult]:
    results = []
    for task_id in task_ids:
        try:
            with transaction.atomic():
                action(task_id)
        except DomainError as exc:
            results.append(
                BulkItemResult(
                    str(task_id), False, exc.code, exc.reason, str(exc.context.get("state")) if exc.context else None
                )
            )
        else:
            results.append(BulkItemResult(str(task_id), True))
    return results


def tasks_bulk_reassign(*, task_ids: list[Any], supervisor: Any, to_user: Any) -> list[BulkItemResult]:
    """Reassign each task on its own, under the same rules as one reassignment; a per-item result."""
    return _each(task_ids, lambda tid: task_reassign(task_id=tid, supervisor=supervisor, to_user=to_user))


def tasks_bulk_approve(*, task_ids: list[Any], supervisor: Any, reason: str = "") -> list[BulkItemResult]:
    """Approve each task as the supervisor, through the same verdict path (and four-eyes checks)."""
    from orchestrator.services.reviews import review_submit

    def approve(task_id: Any) -> None:
        task = task_lock(task_id=task_id)
        if not task.queue.allow_bulk_approve:
            raise ConflictError(f"queue {task.queue.slug!r} does not allow bulk approval", field="queue")
        require_supervisor(queue=task.queue, user=supervisor)
        task_claim(task_id=task_id, user=supervisor)
        review_submit(task_id=task_id, reviewer=supervisor, verdict=Verdict.APPROVE, reason=reason, bulk=True)

    return _each(task_ids, approve)

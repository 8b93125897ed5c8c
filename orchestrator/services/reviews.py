"""Verdicts: committed with their audit event and an outbox row (ARCHITECTURE.md, rule 1)."""

from dataclasses import asdict
from typing import Any

from django.db import transaction
from django.utils import timezone

from orchestrator.audit.chain import audit_append
from orchestrator.errors import NotFound, TaskNotClaimedError, TaskStateError, ValidationFailed
from orchestrator.models import OutboxTopic, Review, ReviewTask, TaskState, Verdict
from orchestrator.services.outbox import outbox_enqueue
from workflows.contracts import VerdictSignal


@transaction.atomic
def review_submit(
    *, task_id: Any, reviewer: Any, verdict: str, reason: str = "", output: Any = None, request_id: str = ""
) -> Review:
    """Record a reviewer's verdict on a task they hold, and queue its delivery to the workflow."""
    if verdict not in Verdict.values:
        raise ValidationFailed(f"must be one of {', '.join(Verdict.values)}", field="verdict")
    task = (
        ReviewTask.objects.select_for_update(of=("self",))
        .select_related("decision", "queue")
        .filter(pk=task_id)
        .first()
    )
    if task is None:
        raise NotFound(f"task {task_id} does not exist", field="task")
    if task.state != TaskState.RESERVED:
        raise TaskStateError(f"task is {task.state}; a verdict needs a claimed task", field="task", state=task.state)
    if task.claimed_by_id != reviewer.pk:
        raise TaskNotClaimedError("task is claimed by another reviewer", field="task", state=task.state)
    now = timezone.now()
    if task.lease_expires_at is not None and task.lease_expires_at <= now:
        raise TaskNotClaimedError("your claim on this task expired; claim it again", field="task", state="expired")
    if verdict in (Verdict.REJECT, Verdict.MODIFY) and not reason.strip():
        raise ValidationFailed(f"a reason is required to {verdict}", field="reason")
    if verdict == Verdict.MODIFY and output is None:
        raise ValidationFailed("modify needs the corrected output", field="output")
    if verdict != Verdict.MODIFY and output is not None:
        raise ValidationFailed("output is only accepted with modify", field="output")

    decision = task.decision
    review = Review.objects.create(task=task, reviewer=reviewer, verdict=verdict, reason=reason, output=output)
    task.state = TaskState.COMPLETED
    task.completed_at = now
    task.save(update_fields=["state", "completed_at"])
    audit_append(
        kind="review.submitted",
        actor=reviewer,
        decision_id=decision.id,
        flow=decision.flow,
        queue=task.queue.slug,
        subject_type="review",
        subject_id=str(review.id),
        request_id=request_id,
        data={
            "task_id": str(task.id),
            "verdict": verdict,
            "reason": reason,
            "before": decision.output,
            "after": output if verdict == Verdict.MODIFY else None,
            "agrees_with_model": verdict == Verdict.APPROVE,
            "seconds_on_task": round((now - task.claimed_at).total_seconds(), 3) if task.claimed_at else None,
            "shown": {"model_output": True, "confidence": True, "explanation": True},
        },
    )
    signal = VerdictSignal(
        review_id=str(review.id),
        task_id=str(task.id),
        verdict=verdict,
        reviewer=reviewer.get_username(),
        output=output,
    )
    outbox_enqueue(
        topic=OutboxTopic.VERDICT,
        key=str(review.id),
        payload={"decision_id": str(decision.id), "signal": asdict(signal)},
    )
    return review

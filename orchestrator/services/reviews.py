"""Verdicts: the one choke point every completion path (API, UI, bulk) goes through.

A task completes after `required_reviewers` distinct verdicts. If they agree, that verdict settles
the decision; if not, an adjudication task decides. The settling verdict is committed with its audit
event and an outbox row, and delivered to the workflow after commit (ARCHITECTURE.md, rule 1).
"""

from dataclasses import asdict
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from orchestrator.errors import ConflictError, PermissionDenied, ValidationFailed
from orchestrator.flows import flow_get
from orchestrator.models import (
    OutboxTopic,
    Review,
    ReviewTask,
    TaskJudgement,
    TaskKind,
    TaskState,
    Verdict,
)
from orchestrator.services.decisions import validate_against
from orchestrator.services.outbox import outbox_enqueue
from orchestrator.services.task_rules import (
    CLAIM_FIELDS,
    clear_claim,
    require_holder,
    require_reviewer,
    require_transition,
    task_lock,
)
from orchestrator.services.tasks import task_audit
from workflows.contracts import VerdictInput


def _check_reason(task: ReviewTask, verdict: str, reason: str) -> None:
    codes = task.queue.reason_codes or []
    if verdict in (Verdict.REJECT, Verdict.MODIFY) and not reason.strip():
        raise ValidationFailed(f"a reason is required to {verdict}", field="reason")
    if not reason or not codes:
        return
    allowed = [c["code"] for c in codes if verdict in c.get("verdicts", (Verdict.REJECT, Verdict.MODIFY))]
    if reason not in allowed:
        listed = ", ".join(allowed) or "none"
        raise ValidationFailed(
            f"{reason!r} is not a reason code of this queue for {verdict} ({listed})", field="reason"
        )


def validate_output(*, flow_name: str, output: Any) -> Any:
    """Check a corrected output against the flow's output schema; 400 naming the failing field."""
    flow = flow_get(flow_name)
    # what the reviewer gave, coerced; defaults they did not set are not added
    return validate_against(flow.output_schema if flow else None, output, field="output", exclude_unset=True)


def _check_output(task: ReviewTask, verdict: str, output: Any) -> Any:
    if verdict == Verdict.MODIFY:
        if output is None:
            raise ValidationFailed("modify needs the corrected output", field="output")
        return validate_output(flow_name=task.decision.flow, output=output)
    if output is not None:
        raise ValidationFailed("output is only accepted with modify", field="output")
    return None


def _agree(reviews: list[Review]) -> bool:
    first = reviews[0]
    return all(r.verdict == first.verdict and r.output == first.output for r in reviews[1:])


def _settle(task: ReviewTask, review: Review, reviewers: list[str]) -> None:
    """Queue the settling verdict for the workflow (the route's task id, all reviewers who count)."""
    root = task.parent if task.parent_id else task
    assert root is not None
    verdict = VerdictInput(
        review_id=str(review.id),
        task_id=str(root.id),
        verdict=review.verdict,
        reviewer=review.reviewer.get_username(),
        reviewers=reviewers,
        output=review.output,
    )
    outbox_enqueue(
        topic=OutboxTopic.VERDICT,
        key=str(review.id),
        payload={"decision_id": str(task.decision_id), "verdict": asdict(verdict)},
    )


def _open_adjudication(task: ReviewTask, reviews: list[Review]) -> ReviewTask:
    queue = task.queue.adjudication_queue or task.queue.escalation_target or task.queue
    adjudication = ReviewTask.objects.create(
        decision=task.decision,
        kind=TaskKind.ADJUDICATION,
        step=task.step,
        parent=task,
        queue=queue,
        priority=task.priority + 1,
        escalation_level=task.escalation_level,
        tier=task.tier,
        required_reviewers=1,
        due_at=task.due_at,
    )
    adjudication.decision = task.decision
    task_audit(
        task,
        kind="task.disagreement",
        actor="system",
        data={
            "verdicts": {r.reviewer.get_username(): r.verdict for r in reviews},
            "adjudication_task": str(adjudication.id),
            "adjudication_queue": queue.slug,
        },
    )
    task_audit(adjudication, kind="task.created", actor="system", data={"kind": "adjudication", "parent": str(task.id)})
    return adjudication


@transaction.atomic
def review_submit(
    *,
    task_id: Any,
    reviewer: Any,
    verdict: str,
    reason: str = "",
    comment: str = "",
    output: Any = None,
    request_id: str = "",
    bulk: bool = False,
) -> Review:
    """Record a reviewer's verdict on a task they hold; settle the task when enough reviewers agree."""
    if verdict not in Verdict.values:
        raise ValidationFailed(f"must be one of {', '.join(Verdict.values)}", field="verdict")
    task = task_lock(task_id=task_id)
    require_transition(task, "decide")
    now = timezone.now()
    require_holder(task, reviewer, now=now)
    require_reviewer(task=task, user=reviewer)
    _check_reason(task, verdict, reason)
    output = _check_output(task, verdict, output)
    blind = task.queue.blind_review
    if blind and not TaskJudgement.objects.filter(task=task, reviewer=reviewer).exists():
        raise ConflictError("in a blind queue, give your first judgement before the verdict", field="verdict")

    decision = task.decision
    try:
        with transaction.atomic():
            review = Review.objects.create(
                task=task,
                decision=decision,
                reviewer=reviewer,
                acting_for=task.acting_for,
                verdict=verdict,
                reason=reason,
                comment=comment,
                output=output,
                seconds_on_task=round((now - task.claimed_at).total_seconds(), 3) if task.claimed_at else None,
            )
    except IntegrityError as exc:
        raise PermissionDenied("you already reviewed this decision", field="reviewer") from exc

    reviews = list(task.reviews.select_related("reviewer").order_by("created_at"))
    task_audit(
        task,
        kind="review.submitted",
        actor=reviewer,
        request_id=request_id,
        data={
            "review_id": str(review.id),
            "verdict": verdict,
            "reason": reason,
            "comment": comment,
            "before": decision.output,
            "after": output,
            "agrees_with_model": verdict == Verdict.APPROVE,
            "seconds_on_task": review.seconds_on_task,
            "acting_for": task.acting_for.get_username() if task.acting_for else None,
            "shown": {
                "model_output": True,
                "model_output_before_judgement": not blind,
                "confidence": not blind,
                "explanation": True,
            },
            "reviews": len(reviews),
            "required": task.required_reviewers,
            "bulk": bulk,
        },
    )

    if len(reviews) < task.required_reviewers:
        # Four-eyes: back to the queue for the next distinct reviewer.
        task.state = TaskState.READY
        clear_claim(task)
        task.assigned_to = None
        task.save(update_fields=["state", "assigned_to", *CLAIM_FIELDS])
        return review

    task.state = TaskState.COMPLETED
    task.completed_at = now
    if task.kind == TaskKind.QA:
        # Post-hoc QA of a decision already finalized: nothing goes to the workflow; a rejection within
        # the revocation window of a degradation auto-decision revokes it (services/degradation.py).
        from orchestrator.services.degradation import degradation_qa_verdict

        task.final_review = review
        task.save(update_fields=["state", "completed_at", "final_review"])
        degradation_qa_verdict(task=task, review=review)
        return review
    if task.kind == TaskKind.ADJUDICATION:
        task.final_review = review
        task.save(update_fields=["state", "completed_at", "final_review"])
        assert task.parent is not None
        earlier = [r.reviewer.get_username() for r in task.parent.reviews.select_related("reviewer")]
        _settle(task, review, earlier + [reviewer.get_username()])
    elif _agree(reviews):
        task.final_review = review
        task.save(update_fields=["state", "completed_at", "final_review"])
        _settle(task, review, [r.reviewer.get_username() for r in reviews])
    else:
        task.save(update_fields=["state", "completed_at"])
        _open_adjudication(task, reviews)
    return review

"""Writes for the steps of a decision's workflow beyond routing: model calls and review tasks per step.

`model_call` is the I/O of a model step (a Python callable or an HTTP endpoint, bounded by the
step's timeout); `decision_model_record` / `decision_model_failed` store its result with an audit
event. `review_open` creates the review task of one step of a custom workflow (the human-review
helper's activity), with the same task fields, audit and claim rules as a routed review.
"""

import json
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FuturesTimeout
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from orchestrator.audit.chain import audit_append, audit_decision
from orchestrator.errors import NotFound, ValidationFailed
from orchestrator.flows import flow_get
from orchestrator.models import Decision, DecisionStatus, Queue, ReviewTask, RouteKind, TaskKind
from orchestrator.services.decisions import _sha256, validate_against
from workflows.flows import ModelStep

MODEL_STEP = "model"


class ModelCallError(RuntimeError):
    """The model did not answer with `{"output": ..., "confidence": 0..1}` in time."""


def model_step_for(*, flow: str, step: str) -> ModelStep:
    definition = flow_get(flow)
    if definition is None:
        raise ValidationFailed(f"unknown flow {flow!r}", field="flow")
    found = definition.model if step == MODEL_STEP else definition.model_steps.get(step)
    if found is None:
        raise ValidationFailed(f"flow {flow!r} has no model step named {step!r}", field="step")
    return found


def model_call(*, step: ModelStep, inputs: Any) -> tuple[Any, float]:
    """Call the model once (no retries here: Temporal retries the activity). Returns (output, confidence)."""
    if step.function:
        # A callable cannot be interrupted: it runs in a helper thread and is abandoned when late.
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="model-step")
        try:
            answer = pool.submit(step.function, inputs).result(timeout=step.timeout_seconds)
        except FuturesTimeout as exc:
            raise ModelCallError(f"the model did not answer within {step.timeout_seconds} s") from exc
        finally:
            pool.shutdown(wait=False)
    else:
        body = json.dumps({"inputs": inputs}).encode()
        request = urllib.request.Request(
            step.endpoint,
            data=body,
            method="POST",
            headers={"Content-Type": "application/json", "Accept": "application/json", **dict(step.headers)},
        )
        with urllib.request.urlopen(request, timeout=step.timeout_seconds) as response:  # noqa: S310 (configured URL)
            answer = json.loads(response.read().decode() or "null")
    if not isinstance(answer, dict) or "output" not in answer or "confidence" not in answer:
        raise ModelCallError(f"the model answered {type(answer).__name__}, not {{output, confidence}}")
    confidence = answer["confidence"]
    if isinstance(confidence, bool) or not isinstance(confidence, int | float) or not 0.0 <= confidence <= 1.0:
        raise ModelCallError(f"the model's confidence {confidence!r} is not a number in [0, 1]")
    return answer["output"], float(confidence)


def _locked(decision_id: Any) -> Decision:
    decision = Decision.objects.select_for_update(of=("self",)).filter(pk=decision_id).first()
    if decision is None:
        raise NotFound(f"decision {decision_id} does not exist", field="decision_id")
    return decision


@transaction.atomic
def decision_model_record(*, decision_id: Any, step: str, output: Any, confidence: float, attempt: int = 1) -> Decision:
    """Store a model step's output and confidence on the decision (the latest step's stands), audited.

    The output must satisfy the flow's output schema (a ValidationFailed otherwise). Idempotent for a
    repeat of the same step with the same result.
    """
    decision = _locked(decision_id)
    definition = flow_get(decision.flow)
    validate_against(definition.output_schema if definition else None, output, field="output")
    if decision.output == output and decision.confidence == confidence:
        return decision
    decision.output = output
    decision.confidence = confidence
    if decision.status == DecisionStatus.RECEIVED:
        decision.status = DecisionStatus.ROUTING
    decision.save(update_fields=["output", "confidence", "status", "updated_at"])
    audit_decision(
        decision,
        kind="decision.model_output",
        actor="workflow",
        data={
            "step": step,
            "model": {"name": decision.model_name, "version": decision.model_version},
            "confidence": confidence,
            "output_sha256": _sha256(output),
            "attempt": attempt,
        },
    )
    return decision


@transaction.atomic
def decision_model_failed(*, decision_id: Any, step: str, error: str, attempts: int) -> Decision:
    """Every attempt of the model step failed: record why; routing then sends the decision to people."""
    decision = _locked(decision_id)
    explanation = dict(decision.explanation or {})
    if explanation.get("model_error") and not decision.route:
        return decision
    explanation["model_error"] = error[:500]
    decision.explanation = explanation
    decision.save(update_fields=["explanation", "updated_at"])
    audit_decision(
        decision,
        kind="decision.model_failed",
        actor="workflow",
        outcome="failed",
        data={"step": step, "error": error[:500], "attempts": attempts},
    )
    return decision


@transaction.atomic
def review_open(
    *,
    decision_id: Any,
    step: str,
    queue: str,
    reviewers: int = 1,
    sla_seconds: int | None = None,
    escalation: list[dict[str, Any]] | None = None,
    timeout_outcome: str = "hold",
    priority: int = 0,
    tier: str = "",
) -> ReviewTask:
    """Open the review task of one step of a decision. Idempotent: the step's existing task is returned.

    The task is an ordinary review task (claims, four-eyes, separation of duties, escalation and the
    deadline all apply); its `step` tells the steps of one decision apart.
    """
    if not step:
        raise ValidationFailed("a review step needs a name", field="step")
    if not 1 <= reviewers <= 10:
        raise ValidationFailed("must be between 1 and 10", field="reviewers")
    if timeout_outcome not in ("hold", "reject", "approve"):
        raise ValidationFailed("must be hold, reject or approve", field="timeout_outcome")
    decision = _locked(decision_id)
    existing = (
        ReviewTask.objects.filter(decision=decision, step=step, kind=TaskKind.REVIEW, parent__isnull=True)
        .select_related("queue")
        .first()
    )
    if existing is not None:
        return existing
    target = Queue.objects.filter(slug=queue).first()
    if target is None:
        raise ValidationFailed(f"unknown queue {queue!r}", field="queue")
    task = ReviewTask.objects.create(
        decision=decision,
        step=step,
        queue=target,
        priority=priority,
        tier=tier,
        required_reviewers=reviewers,
        due_at=timezone.now() + timedelta(seconds=sla_seconds) if sla_seconds else None,
    )
    explanation = dict(decision.explanation or {})
    explanation.update(
        summary=f"step {step!r} of this decision's workflow asks for a person",
        route=RouteKind.REVIEW,
        queue=queue,
        reviewers=reviewers,
        sla_seconds=sla_seconds,
        timeout_outcome=timeout_outcome,
        step=step,
    )
    explanation["steps"] = [*explanation.get("steps", []), step]
    decision.explanation = explanation
    decision.route = decision.route or RouteKind.REVIEW
    decision.status = DecisionStatus.IN_REVIEW
    decision.save(update_fields=["explanation", "route", "status", "updated_at"])
    audit_append(
        kind="task.created",
        actor="workflow",
        decision_id=decision.id,
        flow=decision.flow,
        queue=target.slug,
        subject_type="task",
        subject_id=str(task.id),
        data={
            "step": step,
            "priority": task.priority,
            "tier": task.tier,
            "required_reviewers": task.required_reviewers,
            "due_at": task.due_at.isoformat() if task.due_at else None,
            "escalation": escalation or [],
            "timeout_outcome": timeout_outcome,
        },
    )
    return task

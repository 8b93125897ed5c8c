"""Decision writes: intake, routing (called by the workflow), finalization (called by the workflow)."""

import hashlib
import uuid
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from orchestrator.audit.canonical import canonical_bytes
from orchestrator.audit.chain import audit_append, audit_decision
from orchestrator.errors import ConflictError, NotFound, ValidationFailed
from orchestrator.flows import flow_get, workflow_name_for
from orchestrator.gates import DecisionFacts, evaluate
from orchestrator.gates.custom import custom_gate_facts, run_custom_gates
from orchestrator.gates.evaluate import Route
from orchestrator.models import (
    Decision,
    DecisionOutcome,
    DecisionStatus,
    OutboxTopic,
    Queue,
    Review,
    ReviewTask,
    RouteKind,
)
from orchestrator.selectors.policies import policy_compiled
from orchestrator.services.callbacks import callback_names
from orchestrator.services.degradation import degradation_adjust, degradation_after_route
from orchestrator.services.outbox import outbox_enqueue
from orchestrator.services.policies import policy_ensure_default
from workflows.flows import Flow


def _sha256(value: Any) -> str:
    return hashlib.sha256(canonical_bytes(value)).hexdigest()


def _same_request(decision: Decision, *, output: Any, confidence: float | None, payload_sha256: str) -> bool:
    if decision.inputs is not None:  # the model step may have filled output and confidence since
        return decision.payload_sha256 == payload_sha256
    return decision.payload_sha256 == payload_sha256 and decision.confidence == confidence and decision.output == output


def validate_against(schema: Any, value: Any, *, field: str, exclude_unset: bool = False) -> Any:
    """Check `value` against a flow's pydantic schema (None = anything); 400 naming the first failing field.

    Returns the value as the schema dumps it (JSON mode; with `exclude_unset`, without the defaults
    `value` did not set), or unchanged without a schema.
    """
    if schema is None:
        return value
    from pydantic import ValidationError

    try:
        return schema.model_validate(value).model_dump(mode="json", exclude_unset=exclude_unset)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ValidationFailed(first["msg"], field=f"{field}.{where}" if where else field) from exc


def _start_payload(definition: Flow, inputs: dict[str, Any] | None) -> dict[str, Any]:
    """What the outbox needs to start the right workflow: its type, and the model step's options."""
    body: dict[str, Any] = {"workflow": workflow_name_for(definition)}
    if inputs is not None and definition.model is not None:
        body["model"] = {
            "timeout_seconds": definition.model.timeout_seconds,
            "max_attempts": definition.model.max_attempts,
        }
    return body


@transaction.atomic
def decision_submit(
    *,
    submitted_by: Any,
    flow: str,
    idempotency_key: str,
    model_name: str = "",
    model_version: str = "",
    output: Any = None,
    confidence: float | None = None,
    payload: dict[str, Any] | None = None,
    risk: dict[str, Any] | None = None,
    inputs: dict[str, Any] | None = None,
    excluded_reviewers: list[str] | None = None,
    request_id: str = "",
) -> tuple[Decision, bool]:
    """Record a model's decision and queue its workflow start. A repeated key returns the first decision.

    Either a finished decision (`output` and `confidence`) or, for a flow with a model step, the
    model's `inputs` (the workflow calls the model first; the payload defaults to the inputs). The
    payload is checked against the flow's input schema and the output against its output schema;
    a failure is a 400 naming the field (`payload.amount`). Nothing is written on a refusal.

    Returns (decision, created). A repeated key with a different request is refused (409).
    """
    definition = flow_get(flow)
    if definition is None:
        raise ValidationFailed(f"unknown flow {flow!r}", field="flow")
    risk = risk or {}
    if inputs is not None:
        if output is not None or confidence is not None:
            raise ValidationFailed("send either output and confidence, or inputs for the model step", field="inputs")
        if definition.model is None:
            raise ValidationFailed(f"flow {flow!r} has no model step: send output and confidence", field="inputs")
        if not isinstance(inputs, dict):
            raise ValidationFailed("must be a JSON object", field="inputs")
        model_name = model_name or definition.model.name
        model_version = model_version or definition.model.version
        payload = payload or dict(inputs)
    else:
        if output is None:
            raise ValidationFailed("is required (or send inputs, for a flow with a model step)", field="output")
        if confidence is None:
            raise ValidationFailed("is required with output", field="confidence")
        if not model_name:
            raise ValidationFailed("is required with output", field="model.name")
        validate_against(definition.output_schema, output, field="output")
    payload = payload or {}
    validate_against(definition.input_schema, payload, field="payload")
    payload_sha256 = _sha256(payload)
    existing = Decision.objects.filter(flow=flow, idempotency_key=idempotency_key).first()
    if existing is None:
        try:
            with transaction.atomic():
                decision = Decision.objects.create(
                    id=uuid.uuid4(),
                    flow=flow,
                    idempotency_key=idempotency_key,
                    submitted_by=submitted_by,
                    model_name=model_name,
                    model_version=model_version,
                    output=output,
                    confidence=confidence,
                    payload=payload,
                    payload_sha256=payload_sha256,
                    risk=risk,
                    inputs=inputs,
                    excluded_reviewers=sorted(set(excluded_reviewers or [])),
                )
        except IntegrityError:  # a concurrent request with the same key won the insert
            existing = Decision.objects.get(flow=flow, idempotency_key=idempotency_key)
        else:
            audit_decision(
                decision,
                kind="decision.received",
                actor=submitted_by,
                request_id=request_id,
                data={
                    "idempotency_key": idempotency_key,
                    "model": {"name": model_name, "version": model_version},
                    "confidence": confidence,
                    "output_sha256": _sha256(output),
                    "payload_sha256": payload_sha256,
                    "risk_sha256": _sha256(risk),
                    **({"inputs_sha256": _sha256(inputs)} if inputs is not None else {}),
                },
            )
            outbox_enqueue(
                topic=OutboxTopic.WORKFLOW_START, key=str(decision.id), payload=_start_payload(definition, inputs)
            )
            return decision, True
    if existing.inputs != inputs or not _same_request(
        existing, output=output, confidence=confidence, payload_sha256=payload_sha256
    ):
        raise ConflictError(
            "idempotency_key was already used for a different decision of this flow",
            field="idempotency_key",
            decision_id=str(existing.id),
        )
    return existing, False


@dataclass(frozen=True)
class RouteOutcome:
    route: str
    policy_version: int
    task_id: str | None
    queue: str | None
    priority: int = 0
    tier: str = ""
    required_reviewers: int = 1
    sla_seconds: int | None = None
    escalation: list[dict[str, Any]] = field(default_factory=list)
    timeout_outcome: str = ""
    qa_sample: bool = False
    callbacks: list[str] = field(default_factory=list)


def _custom_gate_results(decision: Decision, needed: frozenset[str]) -> tuple[dict[str, bool], dict[str, str]]:
    """Run the flow's custom gates the policy uses (outside the pure evaluation; failures become facts)."""
    if not needed:
        return {}, {}
    definition = flow_get(decision.flow)
    facts = custom_gate_facts(
        confidence=decision.confidence, output=decision.output, payload=decision.payload, risk=decision.risk
    )
    return run_custom_gates(definition.custom_gates if definition else {}, needed, facts)


def _outcome_from(decision: Decision, task: ReviewTask | None) -> RouteOutcome:
    explanation = decision.explanation or {}
    assert decision.policy is not None
    return RouteOutcome(
        route=decision.route,
        policy_version=decision.policy.version,
        task_id=str(task.id) if task else None,
        queue=task.queue.slug if task else None,
        priority=task.priority if task else 0,
        tier=task.tier if task else (explanation.get("tier") or {}).get("name", ""),
        required_reviewers=task.required_reviewers if task else 1,
        sla_seconds=explanation.get("sla_seconds"),
        escalation=list(explanation.get("escalation") or []),
        timeout_outcome=explanation.get("timeout_outcome", ""),
        qa_sample=bool(explanation.get("qa_sample", False)),
        callbacks=list(explanation.get("callbacks") or []),
    )


def _to_people(spec: Any, route: Route, error: str) -> Route:
    """A decision whose model step failed goes to its tier's review queue, whatever the gates said."""
    note = f"the model step failed ({error}), so a person decides"
    explanation = {**route.explanation, "model_error": error, "override": note}
    if route.kind in (RouteKind.REVIEW, RouteKind.HOLD):
        return replace(route, explanation=explanation)
    tier = spec.tiers[route.tier]
    explanation.update(route="review", summary=note)
    return replace(
        route,
        kind=RouteKind.REVIEW,
        queue=tier.queue,
        priority=tier.priority,
        reviewers=tier.reviewers,
        sla_seconds=tier.sla_seconds,
        escalation=tier.escalation,
        timeout_outcome=tier.timeout_outcome,
        qa_sample=False,
        explanation=explanation,
    )


@transaction.atomic
def decision_route(*, decision_id: str) -> RouteOutcome:
    """Evaluate the gates under the flow's active policy, pin that version, create the task if needed.

    Pinning: the first committed routing stores the policy version on the decision; every later
    call (a retry, a replay, a worker restart) returns what that routing decided, even if another
    version has been activated since. Review and hold routes create the task with the tier, the
    reviewer count, the priority and the due time (now + the tier's SLA).
    Idempotent: a retried call returns what the first committed call decided.
    """
    decision = Decision.objects.select_for_update(of=("self",)).select_related("policy").filter(pk=decision_id).first()
    if decision is None:
        raise NotFound(f"decision {decision_id} does not exist", field="decision_id")
    if decision.route:
        task = ReviewTask.objects.filter(decision=decision).select_related("queue").order_by("created_at").first()
        return _outcome_from(decision, task)
    policy = decision.policy or policy_ensure_default(flow=decision.flow)
    spec = policy_compiled(policy=policy)
    custom, custom_errors = _custom_gate_results(decision, spec.custom_needed)
    model_missing = decision.confidence is None  # the model step failed: people decide, never the gates
    route = evaluate(
        spec,
        DecisionFacts(
            confidence=decision.confidence if decision.confidence is not None else 0.0,
            output=decision.output,
            payload=decision.payload,
            risk=decision.risk,
            decision_id=str(decision.id),
            custom=custom,
            custom_errors=custom_errors,
        ),
        policy_version=policy.version,
    )
    if model_missing:
        route = _to_people(spec, route, (decision.explanation or {}).get("model_error", "no model output"))
    # Pause, model breaker and degradation mode act after the pure evaluation (recorded in the explanation).
    adjustment = degradation_adjust(decision=decision, spec=spec, route=route, policy_version=policy.version)
    route = adjustment.route
    explanation = dict(route.explanation)
    if route.kind in (RouteKind.REVIEW, RouteKind.HOLD):
        # What the workflow is told later (`_outcome_from`) is read back from here: record the final
        # route's terms, whichever step (gates, a failed model step, degradation) set them.
        explanation.update(
            queue=route.queue,
            priority=route.priority,
            reviewers=route.reviewers,
            sla_seconds=route.sla_seconds,
            timeout_outcome=route.timeout_outcome,
            qa_sample=route.qa_sample,
        )
    if route.escalation:
        explanation["escalation"] = [dict(step) for step in route.escalation]
    callbacks = callback_names(flow=decision.flow, spec=spec)
    if callbacks:
        explanation["callbacks"] = callbacks
    decision.policy = policy
    decision.route = route.kind
    decision.explanation = explanation
    audit_decision(
        decision,
        kind="decision.routed",
        actor="workflow",
        queue=route.queue or "",
        data={
            "route": route.kind,
            "policy": {"id": policy.pk, "version": policy.version, "spec_sha256": policy.spec_sha256},
            "explanation": explanation,
            "model": {"name": decision.model_name, "version": decision.model_version},
        },
    )
    task = None
    if route.kind in (RouteKind.REVIEW, RouteKind.HOLD):
        queue = Queue.objects.filter(slug=route.queue).first()
        if queue is None:
            raise ValidationFailed(f"policy routes to unknown queue {route.queue!r}", field="queue")
        task = ReviewTask.objects.create(
            decision=decision,
            queue=queue,
            priority=route.priority,
            tier=route.tier,
            required_reviewers=route.reviewers,
            due_at=timezone.now() + timedelta(seconds=route.sla_seconds) if route.sla_seconds else None,
        )
        decision.status = DecisionStatus.IN_REVIEW
        audit_append(
            kind="task.created",
            actor="workflow",
            decision_id=decision.id,
            flow=decision.flow,
            queue=queue.slug,
            subject_type="task",
            subject_id=str(task.id),
            data={
                "priority": task.priority,
                "tier": task.tier,
                "required_reviewers": task.required_reviewers,
                "due_at": task.due_at.isoformat() if task.due_at else None,
                "hold": route.kind == RouteKind.HOLD,
            },
        )
    else:
        decision.status = DecisionStatus.ROUTING
    degradation_after_route(decision=decision, task=task, adjustment=adjustment)
    decision.save(update_fields=["policy", "route", "explanation", "status", "updated_at"])
    return _outcome_from(decision, task)


@transaction.atomic
def decision_finalize(
    *, decision_id: str, outcome: str, review_id: str | None, use_model_output: bool, reason: str = ""
) -> Decision:
    """Settle the decision's outcome. Idempotent: a repeat after completion changes nothing."""
    decision = Decision.objects.select_for_update().filter(pk=decision_id).first()
    if decision is None:
        raise NotFound(f"decision {decision_id} does not exist", field="decision_id")
    if decision.status == DecisionStatus.COMPLETED:
        return decision
    if outcome not in DecisionOutcome.values:
        raise ValidationFailed(f"unknown outcome {outcome!r}", field="outcome")
    review = Review.objects.filter(pk=review_id).first() if review_id else None
    if review_id and review is None:
        raise NotFound(f"review {review_id} does not exist", field="review_id")
    if outcome == DecisionOutcome.MODIFIED:
        assert review is not None
        final_output = review.output
    elif outcome == DecisionOutcome.APPROVED and use_model_output:
        final_output = decision.output
    else:
        final_output = None
    decision.status = DecisionStatus.COMPLETED
    decision.outcome = outcome
    decision.final_output = final_output
    decision.completed_at = timezone.now()
    decision.save(update_fields=["status", "outcome", "final_output", "completed_at", "updated_at"])
    audit_decision(
        decision,
        kind="decision.finalized",
        actor="workflow",
        data={
            "outcome": outcome,
            "route": decision.route,
            "review_id": review_id,
            "reason": reason or ("review" if review_id else "automatic"),
            "final_output_sha256": _sha256(final_output),
        },
    )
    return decision

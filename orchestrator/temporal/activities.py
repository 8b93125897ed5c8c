"""Activities: thin, idempotent wrappers over services, run in the worker's thread pool.

Each closes stale DB connections in its own thread and turns domain errors into non-retryable
ApplicationErrors (retrying a refused action cannot make it succeed).
"""

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from django.db import close_old_connections
from temporalio import activity
from temporalio.exceptions import ApplicationError

from orchestrator.errors import DomainError
from orchestrator.models import Decision
from orchestrator.services.callbacks import callback_deliver
from orchestrator.services.decisions import decision_finalize, decision_route
from orchestrator.services.escalation import task_deadline_pass, task_escalate
from orchestrator.services.steps import (
    decision_model_failed,
    decision_model_record,
    model_call,
    model_step_for,
    review_open,
)
from workflows.contracts import (
    CALLBACK_ACTIVITY,
    CALLBACK_MAX_ATTEMPTS,
    DEADLINE_ACTIVITY,
    ESCALATE_ACTIVITY,
    FINALIZE_ACTIVITY,
    MODEL_ACTIVITY,
    REVIEW_OPEN_ACTIVITY,
    ROUTE_ACTIVITY,
    CallbackInput,
    CallbackResult,
    DeadlineInput,
    DeadlineResult,
    EscalateInput,
    EscalateResult,
    FinalizeInput,
    ModelInput,
    ModelResult,
    ReviewOpenInput,
    RouteInput,
    RouteResult,
)

F = TypeVar("F", bound=Callable[..., Any])


def _django_activity(fn: F) -> F:
    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        close_old_connections()
        try:
            return fn(*args, **kwargs)
        except DomainError as exc:
            raise ApplicationError(exc.reason, type=type(exc).__name__, non_retryable=True) from exc
        finally:
            close_old_connections()

    return wrapper  # type: ignore[return-value]


def _submitter(decision_id: str) -> str:
    """The submitting account's username, for the workflow's separation-of-duties re-check."""
    return Decision.objects.filter(pk=decision_id).values_list("submitted_by__username", flat=True).first() or ""


@activity.defn(name=ROUTE_ACTIVITY)
@_django_activity
def route(inp: RouteInput) -> RouteResult:
    outcome = decision_route(decision_id=inp.decision_id)
    return RouteResult(
        route=outcome.route,
        policy_version=outcome.policy_version,
        task_id=outcome.task_id,
        queue=outcome.queue,
        required_reviewers=outcome.required_reviewers,
        tier=outcome.tier,
        sla_seconds=outcome.sla_seconds,
        escalation=list(outcome.escalation),
        submitter=_submitter(inp.decision_id),
        timeout_outcome=outcome.timeout_outcome,
        priority=outcome.priority,
        qa_sample=outcome.qa_sample,
        callbacks=list(outcome.callbacks),
    )


@activity.defn(name=FINALIZE_ACTIVITY)
@_django_activity
def finalize(inp: FinalizeInput) -> None:
    decision_finalize(
        decision_id=inp.decision_id,
        outcome=inp.outcome,
        review_id=inp.review_id,
        use_model_output=inp.use_model_output,
        reason=inp.reason,
    )


@activity.defn(name=ESCALATE_ACTIVITY)
@_django_activity
def escalate(inp: EscalateInput) -> EscalateResult:
    applied, detail = task_escalate(task_id=inp.task_id, level=inp.level, step=inp.step)
    return EscalateResult(applied=applied, detail=detail)


@activity.defn(name=DEADLINE_ACTIVITY)
@_django_activity
def deadline(inp: DeadlineInput) -> DeadlineResult:
    passed, state = task_deadline_pass(task_id=inp.task_id, outcome=inp.outcome)
    return DeadlineResult(passed=passed, state=state)


@activity.defn(name=CALLBACK_ACTIVITY)
@_django_activity
def callback(inp: CallbackInput) -> CallbackResult:
    """One attempt of one outcome callback; a failed attempt raises, and Temporal retries (bounded)."""
    attempt = activity.info().attempt
    row = callback_deliver(
        decision_id=inp.decision_id,
        name=inp.callback,
        attempt=attempt,
        final_attempt=attempt >= CALLBACK_MAX_ATTEMPTS,
    )
    return CallbackResult(delivered=True, status_code=row.status_code)


@activity.defn(name=MODEL_ACTIVITY)
@_django_activity
def model(inp: ModelInput) -> ModelResult:
    """Call the flow's model for the decision and store its answer.

    A failed attempt raises, so Temporal retries it with backoff (each attempt bounded by the step's
    timeout); the last attempt records the failure instead, and the decision then goes to people.
    """
    decision = Decision.objects.filter(pk=inp.decision_id).values("flow", "inputs").first()
    if decision is None:
        raise ApplicationError(f"decision {inp.decision_id} does not exist", type="NotFound", non_retryable=True)
    if inp.give_up:
        decision_model_failed(decision_id=inp.decision_id, step=inp.step, error=inp.give_up, attempts=inp.max_attempts)
        return ModelResult(ok=False, error=inp.give_up)
    step = model_step_for(flow=decision["flow"], step=inp.step)
    attempt = activity.info().attempt
    try:
        output, confidence = model_call(step=step, inputs=decision["inputs"] if inp.inputs is None else inp.inputs)
        decision_model_record(
            decision_id=inp.decision_id, step=inp.step, output=output, confidence=confidence, attempt=attempt
        )
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        if attempt < max(inp.max_attempts, 1):
            raise ApplicationError(error, type="ModelStepFailed") from exc  # retryable: Temporal backs off
        decision_model_failed(decision_id=inp.decision_id, step=inp.step, error=error, attempts=attempt)
        return ModelResult(ok=False, error=error)
    return ModelResult(ok=True, output=output, confidence=confidence)


@activity.defn(name=REVIEW_OPEN_ACTIVITY)
@_django_activity
def open_review(inp: ReviewOpenInput) -> RouteResult:
    task = review_open(
        decision_id=inp.decision_id,
        step=inp.step,
        queue=inp.queue,
        reviewers=inp.reviewers,
        sla_seconds=inp.sla_seconds,
        escalation=inp.escalation,
        timeout_outcome=inp.timeout_outcome,
        priority=inp.priority,
        tier=inp.tier,
    )
    return RouteResult(
        route="review",
        policy_version=0,
        task_id=str(task.id),
        queue=task.queue.slug,
        required_reviewers=task.required_reviewers,
        tier=task.tier,
        sla_seconds=inp.sla_seconds,
        escalation=list(inp.escalation),
        submitter=_submitter(inp.decision_id),
        timeout_outcome=inp.timeout_outcome,
        priority=task.priority,
    )


ACTIVITIES: list[Callable[..., Any]] = [route, finalize, escalate, deadline, callback, model, open_review]

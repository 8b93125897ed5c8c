"""Building blocks for custom decision workflows: people, models and the final outcome.

```python
@workflow.defn(name="my_flow")
class MyWorkflow(HumanReviewMixin):
    @workflow.run
    async def run(self, inp: DecisionInput) -> DecisionResult:
        await run_model(inp.decision_id)
        review = await human_review(decision_id=inp.decision_id, queue="desk", reviewers=2, step="check")
        return await finalize(inp.decision_id, review)
```

`human_review` opens a review task for one step of the decision (activity `review.open`) and waits
for its verdict through the workflow's `ReviewDesk`: the same tasks, claims, four-eyes and separation
of duties, escalation chain, final deadline and audit trail as the built-in DecisionWorkflow. The desk
registers the `review.verdict` Update; create it in `__init__` (inherit `HumanReviewMixin`), or let
`desk()` create it on first use — before any task exists, so no verdict can arrive earlier.

A person reviews a decision once across all its steps (separation of duties): a flow with two review
steps needs two different reviewers. Deterministic code only, like everything in `workflows/`.
"""

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

from workflows.contracts import (
    FINALIZE_ACTIVITY,
    MODEL_ACTIVITY,
    REVIEW_OPEN_ACTIVITY,
    ROUTE_REVIEW,
    VERDICT_OUTCOMES,
    DecisionResult,
    FinalizeInput,
    ModelInput,
    ModelResult,
    ReviewOpenInput,
    RouteResult,
)
from workflows.review import STEP_RETRY, STEP_TIMEOUT, ReviewDesk, ReviewOutcome

TIMEOUT_OUTCOMES = {"reject": "rejected", "approve": "approved"}
# The activity's own bound is the model step's timeout; this slack covers the database write after it.
MODEL_SLACK = timedelta(seconds=5)


class HumanReviewMixin:
    """Base for custom workflows that wait for people: creates the workflow's ReviewDesk in `__init__`."""

    def __init__(self) -> None:
        self._desk = ReviewDesk()


def desk() -> ReviewDesk:
    """The current workflow's ReviewDesk (created now when the workflow has none yet)."""
    instance = workflow.instance()
    found = getattr(instance, "_desk", None)
    if found is None:
        found = ReviewDesk()
        instance._desk = found
    assert isinstance(found, ReviewDesk)
    return found


async def human_review(
    *,
    decision_id: str,
    queue: str,
    reviewers: int = 1,
    sla: timedelta | None = None,
    escalation: Sequence[Mapping[str, Any]] = (),
    step: str = "review",
    timeout_outcome: str = "hold",
    priority: int = 0,
    tier: str = "",
) -> ReviewOutcome:
    """Open a review task for `step` of the decision in `queue` and wait for its verdict.

    `reviewers` distinct people must agree (disagreement goes to adjudication, as in the built-in
    flow). `escalation` steps are the policy's format (`{"after_seconds": 3600, "action": "notify"}`,
    `raise_priority`, `reassign` with a `queue`); after `sla` the `timeout_outcome` applies (`hold`
    waits for a supervisor; `reject` / `approve` end the review with `timed_out=True`).
    """
    the_desk = desk()  # registered before the task exists
    route = await workflow.execute_local_activity(
        REVIEW_OPEN_ACTIVITY,
        ReviewOpenInput(
            decision_id=decision_id,
            step=step,
            queue=queue,
            reviewers=reviewers,
            sla_seconds=int(sla.total_seconds()) if sla else None,
            escalation=[dict(item) for item in escalation],
            timeout_outcome=timeout_outcome,
            priority=priority,
            tier=tier,
        ),
        result_type=RouteResult,
        start_to_close_timeout=STEP_TIMEOUT,
        retry_policy=STEP_RETRY,
    )
    return await the_desk.await_verdict(route, decision_id=decision_id)


async def run_model(
    decision_id: str,
    *,
    step: str = "model",
    inputs: Any = None,
    timeout: timedelta = timedelta(seconds=10),
    attempts: int = 3,
) -> ModelResult:
    """Run the flow's model step `step` (the flow's `model`, or one of its `model_steps`) for the decision.

    The answer is stored on the decision (output and confidence; the latest step's stands) and
    audited. `inputs` replaces the decision's stored inputs for this call. Failed attempts are retried
    with backoff; when all fail the result has `ok=False` and the failure is recorded — the workflow
    decides what follows (the built-in flow sends such a decision to people).
    """
    retry = RetryPolicy(
        initial_interval=timedelta(seconds=1),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(seconds=30),
        maximum_attempts=attempts,
    )
    call = ModelInput(decision_id=decision_id, step=step, inputs=inputs, max_attempts=attempts)
    try:
        return await workflow.execute_activity(
            MODEL_ACTIVITY,
            call,
            result_type=ModelResult,
            start_to_close_timeout=timeout + MODEL_SLACK,
            retry_policy=retry,
        )
    except ActivityError as exc:
        reason = str(exc.cause or exc) or type(exc.cause).__name__
        return await workflow.execute_local_activity(
            MODEL_ACTIVITY,
            ModelInput(decision_id=decision_id, step=step, max_attempts=attempts, give_up=reason),
            result_type=ModelResult,
            start_to_close_timeout=STEP_TIMEOUT,
            retry_policy=STEP_RETRY,
        )


def outcome_of(review: ReviewOutcome, *, decision_id: str) -> FinalizeInput:
    """What a review's result means for the decision: a verdict's outcome, or the tier's timeout outcome."""
    if review.verdict is not None:
        verdict = review.verdict
        return FinalizeInput(
            decision_id=decision_id,
            outcome=VERDICT_OUTCOMES[verdict.verdict],
            review_id=verdict.review_id,
            final_output=verdict.output,
            use_model_output=verdict.verdict == "approve",
        )
    return FinalizeInput(
        decision_id=decision_id,
        outcome=TIMEOUT_OUTCOMES[review.timeout_outcome],
        use_model_output=review.timeout_outcome == "approve",
        reason="timeout",
    )


async def finalize(decision_id: str, review: ReviewOutcome | None = None, *, outcome: str = "") -> DecisionResult:
    """Settle the decision: by a review's result, or by `outcome` ("approved" uses the model's output).

    Ends the decision for clients and the audit trail (`decision.finalized`); call it once, last.
    """
    if review is not None:
        final = outcome_of(review, decision_id=decision_id)
    elif outcome:
        final = FinalizeInput(decision_id=decision_id, outcome=outcome, use_model_output=outcome == "approved")
    else:
        raise ValueError("finalize needs a review result or an outcome")
    await workflow.execute_local_activity(
        FINALIZE_ACTIVITY, final, start_to_close_timeout=STEP_TIMEOUT, retry_policy=STEP_RETRY
    )
    return DecisionResult(
        decision_id=decision_id,
        outcome=final.outcome,
        route=ROUTE_REVIEW if review is not None else "workflow",
        review_ids=[final.review_id] if final.review_id else [],
    )

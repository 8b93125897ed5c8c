"""DecisionWorkflow: route one decision through the gates, wait for people where needed, finalize."""

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

from workflows.contracts import (
    CALLBACK_ACTIVITY,
    CALLBACK_MAX_ATTEMPTS,
    DECISION_WORKFLOW,
    FINALIZE_ACTIVITY,
    OUTCOME_CALLBACKS_PATCH,
    ROUTE_ACTIVITY,
    ROUTE_AUTO_APPROVE,
    ROUTE_AUTO_REJECT,
    STATUS_QUERY,
    CallbackInput,
    CallbackResult,
    DecisionInput,
    DecisionResult,
    FinalizeInput,
    RouteInput,
    RouteResult,
)
from workflows.human import outcome_of, run_model
from workflows.review import STEP_RETRY, STEP_TIMEOUT, ReviewDesk

# Callbacks reach another system: a regular activity with a bounded retry; the receiver dedupes by decision id.
CALLBACK_TIMEOUT = timedelta(seconds=30)
CALLBACK_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=60),
    maximum_attempts=CALLBACK_MAX_ATTEMPTS,
)


@workflow.defn(name=DECISION_WORKFLOW)
class DecisionWorkflow:
    def __init__(self) -> None:
        self._desk = ReviewDesk()
        self._stage = "routing"

    @workflow.run
    async def run(self, inp: DecisionInput) -> DecisionResult:
        if inp.model is not None and workflow.patched("model-step"):
            # The client sent inputs: the flow's model decides first (a failure sends it to people).
            self._stage = "model"
            await run_model(
                inp.decision_id,
                timeout=timedelta(seconds=inp.model.timeout_seconds),
                attempts=inp.model.max_attempts,
            )
            self._stage = "routing"
        route = await workflow.execute_local_activity(
            ROUTE_ACTIVITY,
            RouteInput(decision_id=inp.decision_id),
            result_type=RouteResult,
            start_to_close_timeout=STEP_TIMEOUT,
            retry_policy=STEP_RETRY,
        )
        if route.route == ROUTE_AUTO_APPROVE:
            final = FinalizeInput(decision_id=inp.decision_id, outcome="approved", use_model_output=True)
        elif route.route == ROUTE_AUTO_REJECT:
            final = FinalizeInput(decision_id=inp.decision_id, outcome="rejected")
        else:
            self._stage = "in_review"
            review = await self._desk.await_verdict(route, decision_id=inp.decision_id)
            final = outcome_of(review, decision_id=inp.decision_id)
        self._stage = "finalizing"
        await workflow.execute_local_activity(
            FINALIZE_ACTIVITY, final, start_to_close_timeout=STEP_TIMEOUT, retry_policy=STEP_RETRY
        )
        if route.callbacks and workflow.patched(OUTCOME_CALLBACKS_PATCH):
            self._stage = "callbacks"
            for name in route.callbacks:
                try:
                    await workflow.execute_activity(
                        CALLBACK_ACTIVITY,
                        CallbackInput(decision_id=inp.decision_id, callback=name),
                        result_type=CallbackResult,
                        start_to_close_timeout=CALLBACK_TIMEOUT,
                        retry_policy=CALLBACK_RETRY,
                    )
                except ActivityError:
                    # Retries exhausted: the activity recorded callback.failed and a dead letter for
                    # manual redelivery. The decision itself stands.
                    workflow.logger.warning("callback %s of decision %s failed", name, inp.decision_id)
        self._stage = "completed"
        return DecisionResult(
            decision_id=inp.decision_id,
            outcome=final.outcome,
            route=route.route,
            review_ids=[final.review_id] if final.review_id else [],
        )

    @workflow.query(name=STATUS_QUERY)
    def status(self) -> str:
        return self._stage

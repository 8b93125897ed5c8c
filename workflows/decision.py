"""DecisionWorkflow: route one decision through the gates, wait for people where needed, finalize."""

from datetime import timedelta

from temporalio import workflow

from workflows.contracts import (
    DECISION_WORKFLOW,
    FINALIZE_ACTIVITY,
    ROUTE_ACTIVITY,
    ROUTE_AUTO_APPROVE,
    ROUTE_AUTO_REJECT,
    STATUS_QUERY,
    VERDICT_OUTCOMES,
    DecisionInput,
    DecisionResult,
    FinalizeInput,
    RouteInput,
    RouteResult,
)
from workflows.human import run_model
from workflows.review import STEP_RETRY, STEP_TIMEOUT, ReviewDesk

TIMEOUT_OUTCOMES = {"reject": "rejected", "approve": "approved"}


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
            result = await self._desk.await_verdict(route, decision_id=inp.decision_id)
            if result.verdict is not None:
                verdict = result.verdict
                final = FinalizeInput(
                    decision_id=inp.decision_id,
                    outcome=VERDICT_OUTCOMES[verdict.verdict],
                    review_id=verdict.review_id,
                    final_output=verdict.output,
                    use_model_output=verdict.verdict == "approve",
                )
            else:
                final = FinalizeInput(
                    decision_id=inp.decision_id,
                    outcome=TIMEOUT_OUTCOMES[result.timeout_outcome],
                    use_model_output=result.timeout_outcome == "approve",
                    reason="timeout",
                )
        self._stage = "finalizing"
        await workflow.execute_local_activity(
            FINALIZE_ACTIVITY, final, start_to_close_timeout=STEP_TIMEOUT, retry_policy=STEP_RETRY
        )
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

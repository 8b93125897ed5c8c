"""DecisionWorkflow: route one decision through the gates, wait for people where needed, finalize."""

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

from workflows.contracts import (
    DECISION_WORKFLOW,
    FINALIZE_ACTIVITY,
    ROUTE_ACTIVITY,
    ROUTE_AUTO_APPROVE,
    ROUTE_AUTO_REJECT,
    STATUS_QUERY,
    VERDICT_OUTCOMES,
    VERDICT_SIGNAL,
    DecisionInput,
    DecisionResult,
    FinalizeInput,
    RouteInput,
    RouteResult,
    VerdictSignal,
)

# Short database steps run as local activities: one workflow task instead of three round trips each.
# They are idempotent services, retried until they succeed or refuse (a non-retryable domain error).
_STEP_TIMEOUT = timedelta(seconds=30)
_STEP_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=200), maximum_interval=timedelta(seconds=30))


@workflow.defn(name=DECISION_WORKFLOW)
class DecisionWorkflow:
    def __init__(self) -> None:
        self._verdicts: dict[str, VerdictSignal] = {}
        self._task_id: str | None = None
        self._stage = "routing"

    @workflow.run
    async def run(self, inp: DecisionInput) -> DecisionResult:
        route = await workflow.execute_local_activity(
            ROUTE_ACTIVITY,
            RouteInput(decision_id=inp.decision_id),
            result_type=RouteResult,
            start_to_close_timeout=_STEP_TIMEOUT,
            retry_policy=_STEP_RETRY,
        )
        if route.route == ROUTE_AUTO_APPROVE:
            final = FinalizeInput(decision_id=inp.decision_id, outcome="approved", use_model_output=True)
        elif route.route == ROUTE_AUTO_REJECT:
            final = FinalizeInput(decision_id=inp.decision_id, outcome="rejected")
        else:
            self._task_id = route.task_id
            self._stage = "in_review"
            await workflow.wait_condition(lambda: self._verdict() is not None)
            verdict = self._verdict()
            assert verdict is not None
            final = FinalizeInput(
                decision_id=inp.decision_id,
                outcome=VERDICT_OUTCOMES[verdict.verdict],
                review_id=verdict.review_id,
                final_output=verdict.output,
                use_model_output=verdict.verdict == "approve",
            )
        self._stage = "finalizing"
        await workflow.execute_local_activity(
            FINALIZE_ACTIVITY, final, start_to_close_timeout=_STEP_TIMEOUT, retry_policy=_STEP_RETRY
        )
        self._stage = "completed"
        return DecisionResult(
            decision_id=inp.decision_id,
            outcome=final.outcome,
            route=route.route,
            review_ids=[final.review_id] if final.review_id else [],
        )

    def _verdict(self) -> VerdictSignal | None:
        """The first verdict received for this decision's task (delivery order is commit order)."""
        for verdict in self._verdicts.values():
            if verdict.task_id == self._task_id:
                return verdict
        return None

    @workflow.signal(name=VERDICT_SIGNAL)
    def verdict(self, signal: VerdictSignal) -> None:
        # The outbox may deliver a review more than once; keyed by review id, a repeat is a no-op.
        self._verdicts.setdefault(signal.review_id, signal)

    @workflow.query(name=STATUS_QUERY)
    def status(self) -> str:
        return self._stage

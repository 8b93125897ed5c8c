"""The Temporal floor for `manage.py bench decisions`: a two-step workflow of no-op local activities.

It has the same shape as an auto-approved decision (route, then finalize) without any database work,
so the benchmark can say how much of a decision's cost is Handrail's and how much is Temporal's.
"""

from datetime import timedelta

from temporalio import workflow

BASELINE_WORKFLOW = "bench.two_step"
NOOP_ACTIVITY = "bench.noop"


@workflow.defn(name=BASELINE_WORKFLOW)
class TwoStepWorkflow:
    @workflow.run
    async def run(self, key: str) -> str:
        first: str = await workflow.execute_local_activity(
            NOOP_ACTIVITY, key, result_type=str, start_to_close_timeout=timedelta(seconds=10)
        )
        second: str = await workflow.execute_local_activity(
            NOOP_ACTIVITY, first, result_type=str, start_to_close_timeout=timedelta(seconds=10)
        )
        return second

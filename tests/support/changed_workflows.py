"""DecisionWorkflow as a careless and a careful engineer might change it (for the replay tests).

Both add a pause before routing. `UnpatchedChange` does it for every run, so replaying a history
recorded before the change fails (the history has no timer there). `PatchedChange` guards it with
`workflow.patched`, so old histories take the old path and replay cleanly.
"""

from datetime import timedelta

from temporalio import workflow

from workflows.contracts import DECISION_WORKFLOW, DecisionInput, DecisionResult
from workflows.decision import DecisionWorkflow


@workflow.defn(name=DECISION_WORKFLOW)
class UnpatchedChange(DecisionWorkflow):
    @workflow.run
    async def run(self, inp: DecisionInput) -> DecisionResult:
        await workflow.sleep(timedelta(seconds=1))
        return await super().run(inp)


@workflow.defn(name=DECISION_WORKFLOW)
class PatchedChange(DecisionWorkflow):
    @workflow.run
    async def run(self, inp: DecisionInput) -> DecisionResult:
        if workflow.patched("pause-before-routing"):
            await workflow.sleep(timedelta(seconds=1))
        return await super().run(inp)

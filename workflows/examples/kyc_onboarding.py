"""KYC onboarding: a custom Temporal workflow with two model steps and two human reviews.

1. model step `model`: extract name, birth date and document number from the ID scan;
2. review `extraction`: a person checks (or corrects) the extracted fields;
3. model step `risk`: score the customer on the reviewed fields;
4. review `decision`: a second person (a decision is reviewed once per person) approves or rejects.

Everything people do goes through the same tasks, claims, four-eyes, escalation and audit as the
built-in flow; the workflow is ordinary Temporal code built from `workflows.human`.
"""

from datetime import timedelta

from temporalio import workflow

from workflows.contracts import DecisionInput, DecisionResult
from workflows.flows import Flow, ModelStep
from workflows.human import HumanReviewMixin, finalize, human_review, run_model

QUEUE = "kyc"


@workflow.defn(name="kyc_onboarding")
class KycOnboardingWorkflow(HumanReviewMixin):
    @workflow.run
    async def run(self, inp: DecisionInput) -> DecisionResult:
        extracted = await run_model(inp.decision_id, step="model")
        check = await human_review(
            decision_id=inp.decision_id,
            queue=QUEUE,
            step="extraction",
            sla=timedelta(hours=8),
            escalation=[{"after_seconds": 4 * 3600, "action": "notify"}],
        )
        if check.verdict is None or check.verdict.verdict == "reject":
            return await finalize(inp.decision_id, check)
        fields = check.verdict.output if check.verdict.verdict == "modify" else extracted.output
        await run_model(inp.decision_id, step="risk", inputs=fields)
        final = await human_review(
            decision_id=inp.decision_id, queue=QUEUE, step="decision", sla=timedelta(hours=24), timeout_outcome="reject"
        )
        return await finalize(inp.decision_id, final)


FLOW = Flow(
    name="kyc_onboarding",
    title="KYC onboarding",
    description="Extract an ID document, a person checks it, score the customer, a second person decides.",
    default_policy={"queue": QUEUE, "default_route": "review"},
    queues=((QUEUE, "KYC checks"),),
    model=ModelStep(name="toy-kyc-extract", function="workflows.examples.toy_models.kyc_extract"),
    model_steps={"risk": ModelStep(name="toy-kyc-risk", function="workflows.examples.toy_models.kyc_risk")},
    workflow=KycOnboardingWorkflow,
    display_fields=("document.printed_name", "document.printed_birth_date", "document.printed_number"),
)

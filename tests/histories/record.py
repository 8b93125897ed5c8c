"""Record the histories that tests/integration/test_replay.py replays. Not part of the suite: run it
explicitly (`pytest tests/histories/record.py`) after a deliberate, patched workflow change.

Recording needs Postgres and Temporal like the integration suite.
"""

import asyncio
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.testing import WorkflowEnvironment

from tests.support.temporal import temporal_test_server

HISTORIES = Path(__file__).resolve().parent
EXAMPLES = [
    "workflows.examples.loan_approval.FLOW",
    "workflows.examples.payment_fraud.FLOW",
    "workflows.examples.kyc_onboarding.FLOW",
]


def save(name: str, history: WorkflowHistory) -> None:
    HISTORIES.mkdir(exist_ok=True)
    (HISTORIES / f"{name}.json").write_text(history.to_json())


def fetch(address: str, workflow_id: str) -> WorkflowHistory:
    from temporalio.client import Client

    async def main() -> WorkflowHistory:
        client = await Client.connect(address)
        return await client.get_workflow_handle(workflow_id).fetch_history()

    return asyncio.run(main())


@pytest.fixture
def example_flows(settings):  # type: ignore[no-untyped-def]
    settings.HANDRAIL_FLOWS = EXAMPLES


@pytest.mark.temporal
@pytest.mark.django_db(transaction=True)
def test_record_dev_server_histories(example_flows, handrail, simulated_reviewer, settings):
    auto = handrail.submit("loan_approval", payload={"amount": 1000}, output={"label": "approve"}, confidence=0.97)
    handrail.outcome(auto)
    save("auto_approve", fetch(settings.TEMPORAL_ADDRESS, f"decision-{auto}"))

    reviewed = handrail.submit("loan_approval", payload={"amount": 1000}, output={"label": "approve"}, confidence=0.4)
    handrail.wait(reviewed, status="in_review")
    simulated_reviewer.approve(reviewed)
    handrail.outcome(reviewed)
    save("review", fetch(settings.TEMPORAL_ADDRESS, f"decision-{reviewed}"))

    payment = {
        "payment_id": "p-rec",
        "amount": 40.0,
        "currency": "EUR",
        "card_country": "DE",
        "merchant": {"id": "m", "country": "DE", "mcc": "5411"},
    }
    modelled = handrail.submit("payment_fraud", inputs=payment)
    handrail.outcome(modelled)
    save("model_step", fetch(settings.TEMPORAL_ADDRESS, f"decision-{modelled}"))

    document = {"scan_id": "s", "printed_name": "A", "printed_birth_date": "2000-01-01", "printed_number": "N"}
    kyc = handrail.submit("kyc_onboarding", inputs={"document": document})
    simulated_reviewer.approve(kyc, step="extraction")
    simulated_reviewer.approve(kyc, step="decision")
    handrail.outcome(kyc)
    save("kyc_multi_step", fetch(settings.TEMPORAL_ADDRESS, f"decision-{kyc}"))


@pytest.mark.temporal
@pytest.mark.django_db(transaction=True)
def test_record_escalation_and_timeout_history(demo, settings):
    from orchestrator.services.decisions import decision_submit
    from orchestrator.temporal.worker import build_worker
    from tests.support.policies import policy_activate
    from workflows.contracts import DECISION_WORKFLOW, DecisionInput

    spec = {
        "queue": "underwriting",
        "tiers": [
            {
                "name": "standard",
                "sla_seconds": 8 * 3600,
                "timeout_outcome": "reject",
                "escalation": [
                    {"after_seconds": 3600, "action": "notify"},
                    {"after_seconds": 7200, "action": "raise_priority", "priority": 7},
                ],
            }
        ],
        "gates": [{"name": "confidence", "type": "confidence", "when": {"at_least": 0.9}, "route": "auto_approve"}],
        "default_route": "review",
    }
    policy_activate(demo, spec)
    settings.TEMPORAL_ADDRESS = "127.0.0.1:9"  # intake's own start goes nowhere; the test starts the workflow
    decision, _ = decision_submit(
        submitted_by=demo["demo-model"],
        flow="loan_approval",
        idempotency_key="record-escalation",
        model_name="m",
        model_version="1",
        output={"label": "approve"},
        confidence=0.4,
        payload={"amount": 1000},
    )
    server = temporal_test_server()

    async def main() -> WorkflowHistory:
        async with await WorkflowEnvironment.start_time_skipping(test_server_existing_path=server) as env:
            queue = f"record-{uuid.uuid4().hex[:8]}"
            with ThreadPoolExecutor(max_workers=8) as executor:
                async with build_worker(env.client, executor, task_queue=queue):
                    handle = await env.client.start_workflow(
                        DECISION_WORKFLOW,
                        DecisionInput(decision_id=str(decision.id)),
                        id=f"decision-{decision.id}",
                        task_queue=queue,
                    )
                    await handle.result()
                    return await handle.fetch_history()

    save("escalation_timeout", asyncio.run(main()))

"""The flow registry refuses a bad flow at worker start, naming the flow and the field."""

import os
import subprocess
import sys

import pytest
from django.core.management import CommandError, call_command

from orchestrator.flows import FlowConfigError, flows, flows_load
from orchestrator.temporal.worker import worker_workflows
from workflows.examples.kyc_onboarding import KycOnboardingWorkflow

LOAN = "workflows.examples.loan_approval.FLOW"
ALL_EXAMPLES = [
    LOAN,
    "workflows.examples.content_moderation.FLOW",
    "workflows.examples.payment_fraud.FLOW",
    "workflows.examples.kyc_onboarding.FLOW",
    "workflows.examples.tutorial.FLOW",
]


@pytest.mark.parametrize(
    ("entry", "flow", "field", "words"),
    [
        ("tests.support.flows.UNKNOWN_QUEUE", "unknown_queue", "default_policy.queue", "unknown queue 'nowhere'"),
        ("tests.support.flows.BAD_SCHEMA", "bad_schema", "input_schema", "does not import"),
        ("tests.support.flows.DUPLICATE", "loan_approval", "name", "registered twice"),
        ("tests.support.flows.NO_MODEL_TARGET", "no_model_target", "model", "exactly one of function and endpoint"),
    ],
)
def test_a_bad_flow_stops_the_worker_before_it_polls(settings, entry, flow, field, words):
    settings.HANDRAIL_FLOWS = [LOAN, entry]
    settings.TEMPORAL_ADDRESS = "127.0.0.1:9"  # never reached: validation fails first

    with pytest.raises(CommandError) as refused:
        call_command("worker")

    message = str(refused.value)
    assert f"flow {flow!r}" in message and words in message
    with pytest.raises(FlowConfigError) as error:
        flows_load([LOAN, entry])
    assert (error.value.flow, error.value.field) == (flow, field)


def test_an_entry_that_does_not_import_is_named():
    with pytest.raises(FlowConfigError, match=r"HANDRAIL_FLOWS entry 'workflows.examples.nope.FLOW' does not import"):
        flows_load(["workflows.examples.nope.FLOW"])


def test_the_examples_load_and_their_custom_workflows_reach_the_worker(settings):
    settings.HANDRAIL_FLOWS = ALL_EXAMPLES
    loaded = flows()
    assert sorted(loaded) == sorted(
        ["loan_approval", "content_moderation", "payment_fraud", "kyc_onboarding", "expense_approval"]
    )
    # dotted paths are imported when the registry loads
    assert callable(loaded["payment_fraud"].model.function)
    assert KycOnboardingWorkflow in worker_workflows()


def test_the_default_flow_list_has_every_example():
    env = {k: v for k, v in os.environ.items() if k != "HANDRAIL_FLOWS"}
    code = "import config.settings as s; print(','.join(s.HANDRAIL_FLOWS))"
    listed = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert listed.stdout.strip().split(",") == ALL_EXAMPLES


@pytest.mark.django_db
def test_a_newly_listed_flow_gets_its_queues_and_first_policy_at_worker_start(demo, settings):
    from orchestrator.models import AuditEvent, Policy, Queue
    from orchestrator.services.flow_setup import flows_provision

    settings.HANDRAIL_FLOWS = [LOAN, "workflows.examples.content_moderation.FLOW"]  # an existing install adds one

    assert flows_provision() == ["moderation"]
    assert Queue.objects.get(slug="moderation").blind_review
    assert Policy.objects.get(flow="content_moderation", status="active").version == 1
    assert AuditEvent.objects.filter(kind="queue.created", queue="moderation").count() == 1
    assert flows_provision() == []  # idempotent

"""`manage.py simulate`: realistic traffic through the intake service; simulated reviewers drain the queues."""

import time
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from orchestrator.models import Decision, Review

pytestmark = [pytest.mark.temporal, pytest.mark.django_db(transaction=True)]

FLOWS = [
    "workflows.examples.loan_approval.FLOW",
    "workflows.examples.content_moderation.FLOW",
    "workflows.examples.payment_fraud.FLOW",
]


@pytest.fixture(autouse=True)
def _flows(settings):  # type: ignore[no-untyped-def]
    settings.HANDRAIL_FLOWS = FLOWS


def test_simulate_fills_and_drains_the_queues(handrail):
    out = StringIO()
    call_command("simulate", rate=10, duration=3, seed=7, review_rate=5, stdout=out)

    assert "submitted" in out.getvalue()
    decisions = Decision.objects.all()
    assert 15 <= decisions.count() <= 31  # 10/s for 3 s; a busy 2-core machine falls behind, never ahead
    assert set(decisions.values_list("flow", flat=True)) == {"loan_approval", "content_moderation", "payment_fraud"}
    assert decisions.filter(inputs__isnull=False).exists()  # some went through a model step
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not decisions.filter(status="completed", route="auto_approve").exists():
        time.sleep(0.1)
    assert decisions.filter(status="completed").exists()
    assert Review.objects.exists()  # the simulated reviewers worked some tasks


def test_simulate_refuses_a_flow_without_a_generator(handrail):
    with pytest.raises(CommandError, match="no traffic generator"):
        call_command("simulate", rate=1, duration=1, flow=["nope"])

"""The tutorial's test (docs/flows.md includes this file verbatim): a flow tested in a few lines."""

import pytest

pytestmark = [pytest.mark.temporal, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def expense_flow(settings):
    settings.HANDRAIL_FLOWS = ["workflows.examples.tutorial.FLOW"]


def test_a_confident_small_claim_is_approved_automatically(handrail):
    decision = handrail.submit(
        "expense_approval",
        payload={"employee": "e-7", "amount": 42.5, "category": "meals"},
        output={"label": "approve"},
        confidence=0.97,
    )
    assert handrail.outcome(decision).route == "auto_approve"


def test_a_large_claim_needs_two_people_who_can_correct_it(handrail, simulated_reviewer):
    decision = handrail.submit(
        "expense_approval",
        payload={"employee": "e-7", "amount": 2400, "category": "equipment"},
        output={"label": "approve"},
        confidence=0.99,
    )
    handrail.wait(decision, status="in_review")
    simulated_reviewer.modify(decision, {"label": "approve", "reimburse": 2000}, reason="other")

    done = handrail.outcome(decision)
    assert (done.outcome, done.final_output) == ("modified", {"label": "approve", "reimburse": 2000})

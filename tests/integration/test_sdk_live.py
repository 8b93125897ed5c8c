"""The client SDK against the real API (live server), a real worker and Temporal."""

import pytest
from rest_framework.authtoken.models import Token

from orchestrator.sdk.client import HandrailClient, HandrailError

pytestmark = [pytest.mark.temporal, pytest.mark.django_db(transaction=True)]


def test_submit_retry_and_wait_for_outcome(handrail, live_server, simulated_reviewer):
    token = Token.objects.get_or_create(user=handrail.submitter)[0].key
    client = HandrailClient(live_server.url, token=token)
    body = {
        "flow": "loan_approval",
        "idempotency_key": "sdk-live-1",
        "model": {"name": "credit-gbm", "version": "7"},
        "output": {"label": "approve"},
        "confidence": 0.4,
        "payload": {"applicant": "A-1", "amount": 1000, "income": 50000},
    }
    created = client.submit_decision(**body)
    assert client.submit_decision(**body)["id"] == created["id"]  # a retried submission is the same decision

    handrail.wait(created["id"], status="in_review")
    simulated_reviewer.approve(created["id"])
    final = client.wait_for_outcome(created["id"], timeout=30, poll_interval=0.1)
    assert (final["status"], final["outcome"], final["route"]) == ("completed", "approved", "review")

    with pytest.raises(HandrailError) as refused:
        client.submit_decision(**{**body, "idempotency_key": "sdk-live-2", "payload": {"amount": -1}})
    assert refused.value.status == 400 and refused.value.fields[0]["field"] == "payload.amount"

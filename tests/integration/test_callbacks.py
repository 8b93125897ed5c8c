"""Outcome callbacks end to end on the Temporal dev server: the workflow runs `decision.callback` after
finalize, Temporal retries it against a receiver that fails first, and the receiver applies the
decision's effect once (Idempotency-Key = decision id). Also: a paused flow routes to people."""

import pytest

from orchestrator.models import AuditEvent, CallbackDelivery, Decision, ReviewTask
from orchestrator.services.automation import flow_pause
from orchestrator.services.decisions import decision_submit
from tests.support.policies import policy_activate
from tests.support.receiver import Receiver
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.temporal, pytest.mark.django_db(transaction=True)]


def activate(demo, url: str) -> None:  # type: ignore[no-untyped-def]
    spec = {
        "queue": "underwriting",
        "tiers": [{"name": "low", "sla_seconds": 3600}],
        "gates": [{"name": "confidence", "type": "confidence", "when": {"at_least": 0.9}, "route": "auto_approve"}],
        "default_route": "review",
        "callbacks": [{"name": "crm", "url": url}],
    }
    policy_activate(demo, spec)


def submit(demo, key: str, confidence: float) -> str:  # type: ignore[no-untyped-def]
    decision, _ = decision_submit(
        submitted_by=demo["demo-model"],
        flow="loan_approval",
        idempotency_key=key,
        model_name="m",
        model_version="1",
        output={"label": "approve"},
        confidence=confidence,
        payload={},
        risk={},
    )
    return str(decision.id)


def test_callback_is_retried_until_delivered_once_per_idempotency_key(demo, worker, settings):  # type: ignore[no-untyped-def]
    with Receiver(secret=settings.HANDRAIL_CALLBACK_SECRET, fail_first=2) as receiver:
        activate(demo, receiver.url)
        decision_id = submit(demo, "cb-1", 0.97)
        row = wait_for(
            lambda: CallbackDelivery.objects.filter(decision_id=decision_id, status="delivered").first(),
            timeout=30.0,
            what="callback delivery",
        )
    assert row.attempts == 3 and row.status_code == 200
    assert len(receiver.requests) == 3 and receiver.bad_signatures == 0
    assert {r["headers"]["Idempotency-Key"] for r in receiver.requests} == {decision_id}
    assert receiver.effects[decision_id] == 1 and receiver.acked[decision_id] == 1
    body = receiver.requests[-1]["body"]
    assert (body["decision_id"], body["outcome"], body["client_key"]) == (decision_id, "approved", "cb-1")
    kinds = list(AuditEvent.objects.filter(decision_id=decision_id).order_by("seq").values_list("kind", flat=True))
    assert kinds[-2:] == ["decision.finalized", "callback.delivered"]


def test_paused_flow_sends_a_confident_decision_to_people(demo, worker, settings):  # type: ignore[no-untyped-def]
    with Receiver(secret=settings.HANDRAIL_CALLBACK_SECRET) as receiver:
        activate(demo, receiver.url)
        flow_pause(flow="loan_approval", actor=demo["supervisor"], reason="incident")
        decision_id = submit(demo, "cb-2", 0.99)
        wait_for(lambda: ReviewTask.objects.filter(decision_id=decision_id).exists(), timeout=30.0, what="review task")
    decision = Decision.objects.get(pk=decision_id)
    assert decision.route == "review" and decision.explanation["automation"]["paused"] is True
    assert receiver.requests == []  # nothing finalized yet, so no callback

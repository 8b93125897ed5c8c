"""The example flows end to end, tested the way a flow author would: `handrail` and `simulated_reviewer`.

Real Postgres, a real Temporal dev server and worker; the only thing simulated is the people.
"""

import dataclasses
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from orchestrator.models import AuditEvent, Review, ReviewTask

pytestmark = [pytest.mark.temporal, pytest.mark.django_db(transaction=True)]

EXAMPLES = [
    "workflows.examples.loan_approval.FLOW",
    "workflows.examples.content_moderation.FLOW",
    "workflows.examples.payment_fraud.FLOW",
    "workflows.examples.kyc_onboarding.FLOW",
    "tests.support.flows.FAILING_MODEL",
    "tests.support.flows.HTTP_MODEL",
]


@pytest.fixture(autouse=True)
def _example_flows(settings):  # type: ignore[no-untyped-def]
    settings.HANDRAIL_FLOWS = EXAMPLES  # before `handrail` seeds the demo (autouse fixtures come first)


def payment(amount: float, **extra):  # type: ignore[no-untyped-def]
    return {
        "payment_id": f"p-{amount}-{json.dumps(extra, sort_keys=True)}",
        "amount": amount,
        "currency": "EUR",
        "card_country": "DE",
        "merchant": {"id": "m-1", "country": "DE", "mcc": "5411"},
        **extra,
    }


# --- loan_approval ---------------------------------------------------------------------------------


def test_loan_intake_refuses_a_payload_or_output_that_fails_the_flow_schemas(demo, api_as):
    client = api_as(demo["demo-model"])
    body = {
        "flow": "loan_approval",
        "idempotency_key": "schema-1",
        "model": {"name": "credit-gbm", "version": "7"},
        "output": {"label": "approve"},
        "confidence": 0.5,
        "payload": {"applicant": "A-1", "amount": -5, "income": 1000},
    }
    refused = client.post("/api/v1/decisions", body, format="json")
    assert refused.status_code == 400
    assert refused.json()["fields"][0]["field"] == "payload.amount"
    assert "greater than or equal to 0" in refused.json()["fields"][0]["reason"]

    wrong_label = client.post(
        "/api/v1/decisions", {**body, "payload": {"amount": 5}, "output": {"label": "maybe"}}, format="json"
    )
    assert wrong_label.status_code == 400
    assert wrong_label.json()["fields"][0]["field"] == "output.label"
    assert not AuditEvent.objects.filter(kind="decision.received").exists()


def test_loan_review_with_a_correction(handrail, simulated_reviewer):
    decision = handrail.submit(
        "loan_approval",
        payload={"applicant": "A-9", "amount": 30000, "income": 90000},
        output={"label": "approve"},
        confidence=0.5,
    )
    handrail.wait(decision, status="in_review")
    simulated_reviewer.modify(decision, {"label": "approve", "limit": 20000}, reason="wrong_terms")
    done = handrail.outcome(decision)
    assert (done.outcome, done.final_output) == ("modified", {"label": "approve", "limit": 20000})


# --- content_moderation ------------------------------------------------------------------------------


def test_moderation_removes_clear_spam_and_sends_hate_to_blind_review(handrail, simulated_reviewer):
    spam = handrail.submit(
        "content_moderation",
        payload={"post_id": "1", "text": "buy now", "author_id": "u1"},
        output={
            "label": "spam",
            "labels": ["spam"],
            "scores": {"spam": 0.97, "hate": 0.01, "violence": 0.0, "ok": 0.03},
        },
        confidence=0.97,
    )
    hate = handrail.submit(
        "content_moderation",
        payload={"post_id": "2", "text": "...", "author_id": "u2"},
        output={"label": "ok", "labels": [], "scores": {"spam": 0.01, "hate": 0.35, "violence": 0.0, "ok": 0.64}},
        confidence=0.64,
    )
    assert (handrail.outcome(spam).outcome, handrail.outcome(spam).route) == ("rejected", "auto_reject")

    handrail.wait(hate, status="in_review")
    task = handrail.task(hate)
    assert task.queue.blind_review and task.queue.slug == "moderation"
    assert task.decision.explanation["fired"] == "hate_score"
    simulated_reviewer.reject(hate, reason="other")
    assert handrail.outcome(hate).outcome == "rejected"
    review = Review.objects.get(decision_id=hate)
    submitted = AuditEvent.objects.get(decision_id=hate, kind="review.submitted")
    assert submitted.data["shown"]["model_output_before_judgement"] is False  # blind
    assert task.judgements.get().reviewer_id == review.reviewer_id


def test_moderation_runs_its_classifier_when_the_client_sends_inputs(handrail):
    decision = handrail.submit("content_moderation", inputs={"post_id": "3", "text": "lovely day", "author_id": "u3"})
    done = handrail.outcome(decision)
    assert done.output["label"] == "ok" and done.model_name == "toy-moderation"
    assert (done.outcome, done.route) == ("approved", "auto_approve")
    assert handrail.audit_kinds(decision)[:3] == ["decision.received", "decision.model_output", "decision.routed"]


# --- payment_fraud --------------------------------------------------------------------------------------


def test_a_small_ordinary_payment_is_released_by_the_model_step(handrail):
    decision = handrail.submit("payment_fraud", inputs=payment(40.0))
    done = handrail.outcome(decision)
    assert (done.outcome, done.route, done.output["label"]) == ("approved", "auto_approve", "legit")


def test_a_large_payment_needs_two_distinct_reviewers_and_holds_on_timeout(handrail, simulated_reviewer):
    decision = handrail.submit("payment_fraud", inputs=payment(25000.0))
    handrail.wait(decision, status="in_review")
    task = handrail.task(decision)
    assert (task.tier, task.required_reviewers) == ("four_eyes", 2)
    assert task.decision.explanation["timeout_outcome"] == "hold"

    # the review page shows the flow's display fields first (rendering hints)
    from django.contrib.auth import get_user_model
    from django.test import Client

    browser = Client()
    browser.force_login(get_user_model().objects.get(username="reviewer"))
    page = browser.get(f"/tasks/{task.id}")
    assert page.status_code == 200
    assert b"facts-display" in page.content and b"25000" in page.content

    simulated_reviewer.approve(decision)
    done = handrail.outcome(decision)
    assert done.outcome == "approved"
    reviewers = set(Review.objects.filter(decision_id=decision).values_list("reviewer_id", flat=True))
    assert len(reviewers) == 2


def test_payment_intake_names_the_failing_field(handrail):
    from orchestrator.errors import ValidationFailed

    with pytest.raises(ValidationFailed) as refused:
        handrail.submit(
            "payment_fraud", inputs=payment(10.0, merchant={"id": "m", "country": "Germany", "mcc": "5411"})
        )
    assert refused.value.field == "payload.merchant.country"


# --- model step failures and HTTP models -----------------------------------------------------------------


def test_a_model_step_that_keeps_failing_sends_the_decision_to_people(handrail):
    decision = handrail.submit("failing_model", inputs={"x": 1})
    routed = handrail.wait(decision, status="in_review", timeout=30)
    assert routed.route == "review"  # its policy would auto-approve anything the model answered
    assert "model server unavailable" in routed.explanation["model_error"]
    failed = AuditEvent.objects.get(decision_id=decision, kind="decision.model_failed")
    assert failed.data["attempts"] == 2
    # The workflow learns the task's terms from the pinned routing: the tier's SLA and timeout outcome.
    from orchestrator.selectors.policies import policy_compiled
    from orchestrator.services.decisions import decision_route

    pinned = decision_route(decision_id=decision)
    tier = policy_compiled(policy=routed.policy).tiers[pinned.tier]
    assert tier.timeout_outcome  # the test flow's tier sets one (and no SLA)
    assert (pinned.sla_seconds, pinned.timeout_outcome) == (tier.sla_seconds, tier.timeout_outcome)


def test_model_step_calls_an_http_endpoint(handrail, settings, monkeypatch):
    from tests.support import flows as test_flows

    seen: list[dict] = []

    class Model(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            seen.append(body)
            answer = json.dumps({"output": {"label": "approve"}, "confidence": 0.95}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args) -> None:  # type: ignore[no-untyped-def]
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Model)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        step = dataclasses.replace(test_flows.HTTP_MODEL.model, endpoint=f"http://127.0.0.1:{server.server_port}/score")
        monkeypatch.setattr(test_flows, "HTTP_MODEL", dataclasses.replace(test_flows.HTTP_MODEL, model=step))
        settings.HANDRAIL_FLOWS = [*EXAMPLES]  # reload the registry with the served endpoint
        decision = handrail.submit("http_model", inputs={"applicant": "A-7"})
        done = handrail.outcome(decision)
    finally:
        server.shutdown()
    assert seen == [{"inputs": {"applicant": "A-7"}}]
    assert (done.outcome, done.confidence) == ("approved", 0.95)


# --- kyc_onboarding: a custom workflow with two model steps and two reviews --------------------------------


def test_kyc_runs_model_review_model_review(handrail, simulated_reviewer):
    decision = handrail.submit(
        "kyc_onboarding",
        inputs={
            "document": {
                "scan_id": "s-1",
                "printed_name": "Ada L.",
                "printed_birth_date": "1815-12-10",
                "printed_number": "X1",
            }
        },
    )
    handrail.task(decision, step="extraction")
    corrected = {"name": "Ada Lovelace", "birth_date": "1815-12-10", "document_number": "X1"}
    simulated_reviewer.modify(decision, corrected, reason="other", step="extraction")

    handrail.task(decision, step="decision")
    risk = handrail.wait(decision, status="in_review").output
    assert risk["name"] == "Ada Lovelace" and "risk" in risk  # the second model saw the corrected fields
    simulated_reviewer.approve(decision, step="decision")

    done = handrail.outcome(decision)
    assert done.outcome == "approved" and done.final_output == risk
    steps = list(ReviewTask.objects.filter(decision_id=decision).order_by("created_at").values_list("step", flat=True))
    assert steps == ["extraction", "decision"]
    assert Review.objects.filter(decision_id=decision).values("reviewer").distinct().count() == 2
    kinds = handrail.audit_kinds(decision)
    assert kinds.count("decision.model_output") == 2 and kinds.count("task.created") == 2
    assert kinds[-1] == "decision.finalized"


def test_a_released_payment_is_called_back_once_to_the_payment_system(handrail, demo, settings):
    """payment_fraud's outcome callback to a local receiver that fails first: one effect per decision."""
    from tests.support.policies import policy_activate
    from tests.support.receiver import Receiver
    from workflows.examples.payment_fraud import DEFAULT_POLICY

    with Receiver(secret=settings.HANDRAIL_CALLBACK_SECRET, fail_first=2) as receiver:
        spec = {**DEFAULT_POLICY, "callbacks": [{"name": "payments", "url": receiver.url}]}
        policy_activate(demo, spec, flow="payment_fraud")

        decision = handrail.submit("payment_fraud", inputs=payment(40.0))
        done = handrail.outcome(decision)
        assert (done.outcome, done.route) == ("approved", "auto_approve")
        deadline = time.monotonic() + 30
        while not receiver.effects and time.monotonic() < deadline:
            time.sleep(0.1)
    assert receiver.effects == {str(done.id): 1}
    assert len(receiver.requests) == 3  # two refused, the third applied
    assert AuditEvent.objects.filter(decision_id=done.id, kind="callback.delivered").count() == 1

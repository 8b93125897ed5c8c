"""Bad input gets a 4xx naming the field and the reason, and writes nothing."""

import pytest
from django.contrib.auth import get_user_model

from orchestrator.models import AuditEvent, Decision, Outbox, Review
from orchestrator.services.tasks import task_claim_next
from tests.integration.test_task_lifecycle import make_task

pytestmark = pytest.mark.django_db

GOOD = {
    "flow": "loan_approval",
    "idempotency_key": "k-1",
    "model": {"name": "credit-gbm", "version": "7"},
    "output": {"label": "approve"},
    "confidence": 0.5,
    "payload": {"amount": 1000},
    "risk": {},
}


def counts() -> tuple[int, int, int, int]:
    return (Decision.objects.count(), AuditEvent.objects.count(), Outbox.objects.count(), Review.objects.count())


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"flow": "no_such_flow"}, "flow"),
        ({"flow": None}, "flow"),
        ({"idempotency_key": None}, "idempotency_key"),
        ({"confidence": 1.5}, "confidence"),
        ({"confidence": -0.1}, "confidence"),
        ({"confidence": "high"}, "confidence"),
        ({"model": {"name": "m"}}, "model.version"),
        ({"output": None}, "output"),
        ({"payload": ["not", "an", "object"]}, "payload"),
        ({"payload": {"blob": "x" * 300_000}}, "payload"),
    ],
)
def test_bad_decision_is_refused_with_the_field(demo, api_as, change, field):
    body = {k: v for k, v in {**GOOD, **change}.items() if v is not None}
    before = counts()
    response = api_as(demo["demo-model"]).post("/api/v1/decisions", body, format="json")
    assert response.status_code == 400, response.content
    named = [f["field"] for f in response.json()["fields"]]
    assert field in named, response.json()
    assert all(f["reason"] for f in response.json()["fields"])
    assert counts() == before


def test_payload_limit_names_the_size(demo, api_as, settings):
    settings.HANDRAIL_MAX_PAYLOAD_BYTES = 100
    response = api_as(demo["demo-model"]).post(
        "/api/v1/decisions", {**GOOD, "payload": {"blob": "x" * 200}}, format="json"
    )
    assert response.status_code == 400
    assert "limit is 100 bytes" in response.json()["fields"][0]["reason"]


def test_only_service_accounts_submit(demo, api_as):
    response = api_as(demo["reviewer"]).post("/api/v1/decisions", GOOD, format="json")
    assert response.status_code == 403
    assert Decision.objects.count() == 0


def test_anonymous_is_refused(client):
    assert client.post("/api/v1/decisions", GOOD, content_type="application/json").status_code == 401


def test_verdict_on_a_task_not_claimed_by_the_caller_is_409(demo, api_as):
    task = make_task(demo)
    before = counts()
    response = api_as(demo["reviewer"]).post(f"/api/v1/tasks/{task.id}/review", {"verdict": "approve"}, format="json")
    assert response.status_code == 409
    assert response.json()["fields"][0]["field"] == "task"
    assert response.json()["state"] == "ready"
    assert counts() == before


def test_verdict_on_a_task_held_by_another_reviewer_is_409(demo, api_as):
    task = make_task(demo)
    other = get_user_model().objects.create_user("other", password="x")
    task.queue.members.add(other)
    task_claim_next(queue_slug="underwriting", user=other)
    response = api_as(demo["reviewer"]).post(f"/api/v1/tasks/{task.id}/review", {"verdict": "approve"}, format="json")
    assert response.status_code == 409
    assert "another reviewer" in response.json()["detail"]


def test_second_verdict_on_a_completed_task_is_409(demo, api_as):
    task = make_task(demo)
    reviewer = api_as(demo["reviewer"])
    assert reviewer.post("/api/v1/queues/underwriting/claim").status_code == 200
    assert reviewer.post(f"/api/v1/tasks/{task.id}/review", {"verdict": "approve"}, format="json").status_code == 201
    before = counts()
    again = reviewer.post(
        f"/api/v1/tasks/{task.id}/review", {"verdict": "reject", "reason": "fraud_suspected"}, format="json"
    )
    assert again.status_code == 409
    assert again.json()["state"] == "completed"
    assert counts() == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"verdict": "maybe"}, "verdict"),
        ({"verdict": "reject"}, "reason"),
        ({"verdict": "modify", "reason": "wrong_terms"}, "output"),
        ({"verdict": "reject", "reason": "no such code"}, "reason"),
        ({"verdict": "approve", "output": {"label": "x"}}, "output"),
    ],
)
def test_bad_verdicts_name_the_field(demo, api_as, body, field):
    task = make_task(demo)
    reviewer = api_as(demo["reviewer"])
    reviewer.post("/api/v1/queues/underwriting/claim")
    before = counts()
    response = reviewer.post(f"/api/v1/tasks/{task.id}/review", body, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["fields"][0]["field"] == field
    assert counts() == before


def test_claim_in_a_queue_you_do_not_work_is_403(demo, api_as):
    response = api_as(demo["compliance"]).post("/api/v1/queues/underwriting/claim")
    assert response.status_code == 403
    assert response.json()["fields"][0]["field"] == "queue"


def test_claim_in_an_unknown_queue_is_404(demo, api_as):
    assert api_as(demo["reviewer"]).post("/api/v1/queues/nope/claim").status_code == 404


def test_audit_events_need_a_valid_decision_id(demo, api_as):
    response = api_as(demo["compliance"]).get("/api/v1/audit/events?decision=not-a-uuid")
    assert response.status_code == 400
    assert response.json()["fields"][0]["field"] == "decision"
    assert api_as(demo["reviewer"]).get("/api/v1/audit/events?decision=not-a-uuid").status_code == 403


def test_token_endpoint_issues_drf_tokens(demo, client):
    response = client.post("/api/v1/auth/token/", {"username": "demo-model", "password": "handrail"})
    assert response.status_code == 200
    assert len(response.json()["token"]) == 40
    assert AuditEvent.objects.filter(kind="auth.login", actor="demo-model").count() == 1
    bad = client.post("/api/v1/auth/token/", {"username": "demo-model", "password": "wrong"})
    assert bad.status_code == 400
    assert AuditEvent.objects.filter(kind="auth.login_failed").exists()


def test_schema_and_docs_are_served(client):
    schema = client.get("/api/schema/")
    assert schema.status_code == 200
    assert b"/api/v1/decisions" in schema.content
    docs = client.get("/api/docs/")
    assert docs.status_code == 200

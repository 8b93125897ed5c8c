"""Policy lifecycle, four-eyes activation, validation errors, pinning, backtest and calibration (real Postgres)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from orchestrator.models import AuditEvent, Decision, Policy, ReviewTask
from orchestrator.services.decisions import decision_finalize, decision_route, decision_submit

pytestmark = pytest.mark.django_db

LOW = {"queue": "underwriting", "confidence_threshold": 0.8}


def create(client, spec, flow="loan_approval"):  # type: ignore[no-untyped-def]
    return client.post("/api/v1/policies", {"flow": flow, "spec": spec, "note": "test"}, format="json")


def activate(author_client, approver_client, spec) -> int:  # type: ignore[no-untyped-def]
    created = create(author_client, spec)
    assert created.status_code == 201, created.content
    policy_id = created.json()["id"]
    assert author_client.post(f"/api/v1/policies/{policy_id}/submit").status_code == 200
    approved = approver_client.post(f"/api/v1/policies/{policy_id}/approve")
    assert approved.status_code == 200, approved.content
    return policy_id


def decide(demo, key: str, confidence: float, amount: int = 1000) -> Decision:  # type: ignore[no-untyped-def]
    decision, _ = decision_submit(
        submitted_by=demo["demo-model"],
        flow="loan_approval",
        idempotency_key=key,
        model_name="credit-gbm",
        model_version="7",
        output={"label": "approve"},
        confidence=confidence,
        payload={"amount": amount},
        risk={},
    )
    return decision


def test_lifecycle_draft_submit_approve_retires_the_previous_version(demo, api_as):
    author, approver = api_as(demo["supervisor"]), api_as(demo["compliance"])
    v1 = Policy.objects.get(flow="loan_approval", status="active")
    created = create(author, LOW)
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["version"], body["status"], body["created_by"]) == (v1.version + 1, "draft", "supervisor")

    edited = author.patch(f"/api/v1/policies/{body['id']}", {"spec": {**LOW, "priority": 3}}, format="json")
    assert edited.status_code == 200 and edited.json()["spec"]["priority"] == 3
    assert author.post(f"/api/v1/policies/{body['id']}/submit").json()["status"] == "submitted"
    # submitted is no longer editable
    again = author.patch(f"/api/v1/policies/{body['id']}", {"note": "late"}, format="json")
    assert again.status_code == 409 and again.json()["error"] == "policy_state"

    approved = approver.post(f"/api/v1/policies/{body['id']}/approve").json()
    assert (approved["status"], approved["approved_by"]) == ("active", "compliance")
    v1.refresh_from_db()
    assert v1.status == "retired" and v1.retired_at is not None
    assert Policy.objects.filter(flow="loan_approval", status="active").count() == 1
    kinds = list(
        AuditEvent.objects.filter(subject_type="policy").order_by("id").values_list("kind", "subject_id", "outcome")
    )
    assert kinds[-5:] == [
        ("policy.draft_created", str(body["id"]), "ok"),
        ("policy.draft_updated", str(body["id"]), "ok"),
        ("policy.submitted", str(body["id"]), "ok"),
        ("policy.retired", str(v1.pk), "ok"),
        ("policy.activated", str(body["id"]), "ok"),
    ]
    # an active version is immutable and is not retired directly
    assert author.patch(f"/api/v1/policies/{body['id']}", {"note": "x"}, format="json").status_code == 409
    assert author.post(f"/api/v1/policies/{body['id']}/retire").status_code == 409

    diff = author.get(f"/api/v1/policies/diff?flow=loan_approval&base={v1.version}&other={approved['version']}").json()
    assert {"path": "confidence_threshold", "change": "added", "from": None, "to": 0.8} in diff["changes"]


def test_four_eyes_the_author_cannot_approve_and_the_refusal_is_audited(demo, api_as):
    author = api_as(demo["supervisor"])
    policy_id = create(author, LOW).json()["id"]
    author.post(f"/api/v1/policies/{policy_id}/submit")
    refused = author.post(f"/api/v1/policies/{policy_id}/approve")
    assert refused.status_code == 403
    assert refused.json()["error"] == "four_eyes"
    assert "second person" in refused.json()["detail"]
    assert Policy.objects.get(pk=policy_id).status == "submitted"
    assert Policy.objects.filter(flow="loan_approval", status="active").exclude(pk=policy_id).exists()
    event = AuditEvent.objects.filter(kind="policy.approval_refused", subject_id=str(policy_id)).get()
    assert (event.outcome, event.actor) == ("refused", "supervisor")


def test_reviewers_cannot_manage_policies(demo, api_as):
    assert create(api_as(demo["reviewer"]), LOW).status_code == 403
    assert api_as(demo["reviewer"]).get("/api/v1/policies").status_code == 403


def test_only_the_author_edits_a_draft_and_a_draft_can_be_deleted(demo, api_as):
    author, other = api_as(demo["supervisor"]), api_as(demo["compliance"])
    policy_id = create(author, LOW).json()["id"]
    assert other.patch(f"/api/v1/policies/{policy_id}", {"note": "mine"}, format="json").status_code == 403
    assert other.delete(f"/api/v1/policies/{policy_id}").status_code == 403
    assert author.delete(f"/api/v1/policies/{policy_id}").status_code == 204
    assert not Policy.objects.filter(pk=policy_id).exists()
    assert AuditEvent.objects.filter(kind="policy.draft_deleted", subject_id=str(policy_id)).exists()


RULE = {"name": "big", "type": "rule", "when": "payload.amout > 1000", "route": "review"}


@pytest.mark.parametrize(
    ("spec", "field", "reason"),
    [
        (
            {**LOW, "fields": {"payload.amount": "number"}, "gates": [RULE]},
            "spec.gates[0].when",
            "unknown field 'payload.amout' (declare it under fields, or fix the name) (line 1, column 8)",
        ),
        ({**LOW, "queue": "nowhere"}, "spec.queue", "unknown queue 'nowhere'"),
        ({**LOW, "confidence_threshold": 1.5}, "spec.confidence_threshold", "must be between 0 and 1"),
        ({**LOW, "qa": {"rate": 2}}, "spec.qa.rate", "must be between 0 and 1"),
        (
            {**LOW, "gates": [{"name": "x", "type": "custom", "function": "nope", "route": "review"}]},
            "spec.gates[0].function",
            "the flow registers no custom gate 'nope'",
        ),
    ],
)
def test_bad_specs_are_400_with_the_field_and_reason_and_nothing_is_written(demo, api_as, spec, field, reason):
    before = (Policy.objects.count(), AuditEvent.objects.count())
    response = create(api_as(demo["supervisor"]), spec)
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["fields"][0]["field"] == field
    assert reason in body["detail"]
    assert (Policy.objects.count(), AuditEvent.objects.count()) == before


def test_a_rule_error_names_the_rule_and_its_position(demo, api_as):
    body = create(api_as(demo["supervisor"]), {**LOW, "fields": {"payload.amount": "number"}, "gates": [RULE]}).json()
    assert (body["rule"], body["line"], body["column"]) == ("payload.amout > 1000", 1, 8)


def test_every_decision_keeps_the_version_that_routed_it(demo, api_as):
    before = decide(demo, "pin-1", 0.85)
    routed_before = decision_route(decision_id=str(before.id))
    assert (routed_before.route, routed_before.policy_version) == ("review", 1)
    activate(api_as(demo["supervisor"]), api_as(demo["compliance"]), LOW)  # v2 auto-approves 0.85

    after = decide(demo, "pin-2", 0.85)
    routed_after = decision_route(decision_id=str(after.id))
    assert (routed_after.route, routed_after.policy_version) == ("auto_approve", 2)
    # a retried routing of the first decision returns its pinned decision, not the new policy's
    again = decision_route(decision_id=str(before.id))
    assert (again.route, again.policy_version, again.task_id) == ("review", 1, routed_before.task_id)
    assert Decision.objects.get(pk=before.id).explanation["policy_version"] == 1
    assert Decision.objects.get(pk=after.id).policy.version == 2


def test_routing_fills_the_task_from_the_tier(demo):
    decision = decide(demo, "tier-1", 0.95, amount=150000)  # high tier: 0.97 needed, two reviewers, 4 h SLA
    outcome = decision_route(decision_id=str(decision.id))
    assert (outcome.route, outcome.tier, outcome.required_reviewers, outcome.sla_seconds) == (
        "review",
        "high",
        2,
        14400,
    )
    assert [step["after_seconds"] for step in outcome.escalation] == [3600, 7200]
    task = ReviewTask.objects.get(pk=outcome.task_id)
    assert (task.tier, task.required_reviewers, task.priority) == ("high", 2, 5)
    assert task.due_at is not None
    assert abs((task.due_at - task.created_at).total_seconds() - 14400) < 5
    assert decision_route(decision_id=str(decision.id)) == outcome  # idempotent


def seed_history(demo) -> None:  # type: ignore[no-untyped-def]
    """Under v1 (threshold 0.9): 40 confident auto-approvals, 30 reviewed at 0.85 (27 approved), 30 at 0.6 (15)."""
    plan = [(0.95, "approved")] * 40
    plan += [(0.85, "approved")] * 27 + [(0.85, "rejected")] * 3
    plan += [(0.6, "approved")] * 15 + [(0.6, "rejected")] * 15
    for i, (confidence, outcome) in enumerate(plan):
        decision = decide(demo, f"h-{i}", confidence)
        routed = decision_route(decision_id=str(decision.id))
        assert routed.route == ("auto_approve" if confidence > 0.9 else "review")
        decision_finalize(decision_id=str(decision.id), outcome=outcome, review_id=None, use_model_output=True)


def test_backtest_of_a_draft_over_a_seeded_history(demo, api_as):
    seed_history(demo)
    client = api_as(demo["compliance"])
    draft = create(api_as(demo["supervisor"]), LOW).json()
    report = client.post(
        "/api/v1/policies/backtest", {"flow": "loan_approval", "policy_id": draft["id"]}, format="json"
    )
    assert report.status_code == 200, report.content
    body = report.json()
    assert body["decisions"] == 100
    assert body["routes"] == {"auto_approve": 70, "auto_reject": 0, "review": 30, "hold": 0}
    assert body["automation_rate"] == pytest.approx(0.7)
    assert body["review_volume"]["by_queue"] == {"underwriting": 30}
    assert body["review_volume"]["by_tier"] == {"default": 30}
    assert body["changes"] == {"auto_to_review": 0, "review_to_auto": 30}
    auto = body["auto_decisions"]
    assert (auto["count"], auto["with_human_outcome"], auto["disagreements"]) == (70, 30, 3)
    assert auto["error_rate"] == pytest.approx(0.1)
    assert body["policy_version"] == draft["version"]

    inline = client.post("/api/v1/policies/backtest", {"flow": "loan_approval", "spec": LOW}, format="json").json()
    assert inline["routes"] == body["routes"]
    past = (timezone.now() - timedelta(days=1)).isoformat()
    empty = client.post(
        "/api/v1/policies/backtest", {"flow": "loan_approval", "spec": LOW, "until": past}, format="json"
    )
    assert empty.json()["decisions"] == 0
    bad = client.post(
        "/api/v1/policies/backtest", {"flow": "loan_approval", "spec": {**LOW, "queue": "x"}}, format="json"
    )
    assert bad.status_code == 400 and bad.json()["fields"][0]["field"] == "spec.queue"


def test_calibration_recommends_a_threshold_as_a_draft_never_active(demo, api_as):
    seed_history(demo)
    client = api_as(demo["compliance"])
    response = client.post(
        "/api/v1/policies/calibration",
        {"flow": "loan_approval", "target_error": 0.3, "level": 0.95, "min_support": 20},
        format="json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["count"] == 60
    buckets = {b["from"]: b for b in body["buckets"]}
    assert (buckets[0.8]["count"], buckets[0.8]["agreement"]) == (30, pytest.approx(0.9))
    assert (buckets[0.6]["count"], buckets[0.6]["agreement"]) == (30, pytest.approx(0.5))
    assert body["ece"] == pytest.approx(0.075)
    assert body["brier"] == pytest.approx(10.575 / 60)
    assert body["recommended"]["threshold"] == 0.61
    assert body["recommended"]["upper"] == pytest.approx(0.2255, abs=1e-3)

    draft = Policy.objects.get(pk=body["draft"]["id"])
    assert (draft.status, draft.source, draft.created_by.username, draft.based_on_version) == (
        "draft",
        "calibration",
        "compliance",
        1,
    )
    gate = next(g for g in draft.spec["gates"] if g["name"] == "confidence")
    assert gate["when"] == {"at_least": 0.61}
    assert Policy.objects.get(flow="loan_approval", status="active").version == 1  # nothing applied silently
    # a second person activates it like any draft
    compliance = api_as(demo["compliance"])
    assert compliance.post(f"/api/v1/policies/{draft.pk}/submit").status_code == 200
    assert compliance.post(f"/api/v1/policies/{draft.pk}/approve").status_code == 403
    assert api_as(demo["supervisor"]).post(f"/api/v1/policies/{draft.pk}/approve").status_code == 200


def test_calibration_without_a_safe_threshold_creates_no_draft(demo, api_as):
    seed_history(demo)
    before = Policy.objects.count()
    body = (
        api_as(demo["compliance"])
        .post("/api/v1/policies/calibration", {"flow": "loan_approval", "target_error": 0.01}, format="json")
        .json()
    )
    assert body["recommended"] is None and body["draft"] is None
    assert Policy.objects.count() == before

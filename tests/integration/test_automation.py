"""The model circuit breaker (failures, drift, half-open recovery) and the pause button with four-eyes resume."""

import itertools
from datetime import timedelta

import pytest
from django.utils import timezone

from orchestrator.models import AuditEvent, Decision, FlowAutomation
from orchestrator.services.automation import breaker_evaluate
from orchestrator.services.decisions import decision_route, decision_submit
from tests.support.policies import policy_activate

pytestmark = pytest.mark.django_db
_keys = itertools.count()


def activate(demo, breaker: dict) -> None:  # type: ignore[no-untyped-def]
    spec = {
        "queue": "underwriting",
        "tiers": [{"name": "low", "sla_seconds": 3600}],
        "gates": [{"name": "confidence", "type": "confidence", "when": {"at_least": 0.9}, "route": "auto_approve"}],
        "default_route": "review",
        "degradation": {"breaker": breaker},
    }
    policy_activate(demo, spec)


def decide(demo, confidence: float = 0.97, *, route: bool = True) -> Decision:  # type: ignore[no-untyped-def]
    decision, _ = decision_submit(
        submitted_by=demo["demo-model"],
        flow="loan_approval",
        idempotency_key=f"aut-{next(_keys)}",
        model_name="m",
        model_version="1",
        output={"label": "approve"},
        confidence=confidence,
        payload={},
        risk={},
    )
    if route:
        decision_route(decision_id=str(decision.id))
        decision.refresh_from_db()
    return decision


def transitions() -> list[tuple[str, str]]:
    return [(e.data["from"], e.data["to"]) for e in AuditEvent.objects.filter(kind="breaker.changed").order_by("seq")]


def test_breaker_trips_on_reported_model_failures_and_recovers(demo, api_as):  # type: ignore[no-untyped-def]
    activate(
        demo, {"failures": 3, "window_seconds": 60, "cooldown_seconds": 30, "probation_seconds": 30, "psi_over": None}
    )
    assert decide(demo).route == "auto_approve"
    model = api_as(demo["demo-model"])
    for _ in range(3):
        response = model.post("/api/v1/flows/loan_approval/model-failures", {"reason": "timeout"}, format="json")
        assert response.status_code == 202, response.content
    assert response.json()["breaker"] == "open"
    tripped = decide(demo)
    assert tripped.route == "review"
    assert tripped.explanation["automation"]["breaker"] == "open"
    assert "the model breaker is open" in tripped.explanation["summary"]

    now = timezone.now()
    assert breaker_evaluate(flow="loan_approval", now=now + timedelta(seconds=10)).breaker == "open"  # cooling down
    # The failures age out of the window and the cooldown passed: probation, still to people.
    assert breaker_evaluate(flow="loan_approval", now=now + timedelta(seconds=70)).breaker == "half_open"
    assert decide(demo).route == "review"
    assert breaker_evaluate(flow="loan_approval", now=now + timedelta(seconds=101)).breaker == "closed"
    assert decide(demo).route == "auto_approve"
    assert transitions() == [("closed", "open"), ("open", "half_open"), ("half_open", "closed")]


def test_a_failure_during_probation_opens_the_breaker_again(demo, api_as):  # type: ignore[no-untyped-def]
    activate(
        demo, {"failures": 2, "window_seconds": 60, "cooldown_seconds": 0, "probation_seconds": 300, "psi_over": None}
    )
    model = api_as(demo["demo-model"])
    for _ in range(2):
        model.post("/api/v1/flows/loan_approval/model-failures", {}, format="json")
    later = timezone.now() + timedelta(seconds=61)
    assert breaker_evaluate(flow="loan_approval", now=later).breaker == "half_open"
    assert model.post("/api/v1/flows/loan_approval/model-failures", {}, format="json").json()["breaker"] == "open"
    assert transitions()[-1] == ("half_open", "open")


def test_breaker_trips_on_confidence_drift_against_the_baseline(demo):  # type: ignore[no-untyped-def]
    activate(demo, {"psi_over": 0.25, "baseline_size": 100, "drift_window": 50, "cooldown_seconds": 0})
    for i in range(100):
        decide(demo, 0.05 + 0.9 * ((i * 37) % 100) / 99, route=False)  # spread evenly in any window
    state = breaker_evaluate(flow="loan_approval")
    assert state.breaker == "closed" and len(state.baseline) == 10 and state.last_psi is not None
    assert state.last_psi < 0.25
    for _ in range(50):
        decide(demo, 0.99, route=False)  # the model suddenly claims near-certainty
    state = breaker_evaluate(flow="loan_approval")
    assert state.breaker == "open" and state.breaker_reason == "confidence drift" and state.last_psi > 0.25
    assert AuditEvent.objects.filter(kind="breaker.baseline_set").count() == 1


def test_pause_sends_everything_to_people_and_resume_needs_a_second_person(demo, api_as):  # type: ignore[no-untyped-def]
    supervisor, compliance = api_as(demo["supervisor"]), api_as(demo["compliance"])
    assert api_as(demo["reviewer"]).post("/api/v1/flows/loan_approval/pause", {}, format="json").status_code == 403
    assert supervisor.post("/api/v1/flows/nope/pause", {}, format="json").status_code == 404
    paused = supervisor.post("/api/v1/flows/loan_approval/pause", {"reason": "model incident"}, format="json")
    assert paused.status_code == 200 and paused.json()["paused"] is True
    routed = decide(demo)
    assert routed.route == "review" and routed.explanation["automation"]["paused"] is True

    request = supervisor.post("/api/v1/flows/loan_approval/resume-requests", {"reason": "fixed"}, format="json")
    assert request.status_code == 201, request.content
    request_id = request.json()["id"]
    again = compliance.post("/api/v1/flows/loan_approval/resume-requests", {}, format="json")
    assert again.status_code == 409
    own = supervisor.post(f"/api/v1/flows/loan_approval/resume-requests/{request_id}/approve")
    assert own.status_code == 403 and own.json()["error"] == "four_eyes"
    assert FlowAutomation.objects.get(flow="loan_approval").paused
    assert decide(demo).route == "review"

    approved = compliance.post(f"/api/v1/flows/loan_approval/resume-requests/{request_id}/approve")
    assert approved.status_code == 200, approved.content
    assert approved.json()["approved_by"] == "compliance"
    assert decide(demo).route == "auto_approve"
    kinds = list(AuditEvent.objects.filter(kind__startswith="automation.").order_by("seq").values_list("kind", "actor"))
    assert kinds == [
        ("automation.paused", "supervisor"),
        ("automation.resume_requested", "supervisor"),
        ("automation.resume_refused", "supervisor"),
        ("automation.resumed", "compliance"),
    ]
    not_paused = supervisor.post("/api/v1/flows/loan_approval/resume-requests", {}, format="json")
    assert not_paused.status_code == 409
    rows = supervisor.get("/api/v1/modes").json()
    assert rows and all(r["paused"] is False for r in rows if r["flow"] == "loan_approval")


def test_board_panel_pauses_and_a_second_supervisor_resumes(demo, client):  # type: ignore[no-untyped-def]
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    second = get_user_model().objects.create_user("supervisor2")
    second.groups.add(Group.objects.get(name="supervisors"))
    client.force_login(demo["supervisor"])
    page = client.get("/supervise/")
    assert page.status_code == 200 and b"Pause automation" in page.content
    client.post("/supervise/flows/loan_approval/pause", {"reason": "incident"})
    assert FlowAutomation.objects.get(flow="loan_approval").paused
    client.post("/supervise/flows/loan_approval/resume-request")
    page = client.get("/supervise/")
    assert b"Approve resume" in page.content
    request_id = AuditEvent.objects.get(kind="automation.resume_requested").data["request"]
    client.post("/supervise/flows/loan_approval/resume-approve", {"request": request_id})
    assert FlowAutomation.objects.get(flow="loan_approval").paused  # four-eyes: refused
    client.force_login(second)
    client.post("/supervise/flows/loan_approval/resume-approve", {"request": request_id})
    assert not FlowAutomation.objects.get(flow="loan_approval").paused

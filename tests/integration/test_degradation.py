"""Controlled degradation, driven through the routing services without Temporal (fast):
500 decisions against one simulated reviewer; critical decisions all go to people with an alert,
low-risk ones are handled by the ladder (hold, bounded; auto-decide with post-hoc QA and revocation),
modes change with hysteresis and every change is audited."""

import itertools
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from orchestrator.models import (
    AuditEvent,
    Decision,
    DecisionRevocation,
    DegradationHold,
    Notification,
    QueueMode,
    ReviewTask,
    TaskKind,
    TaskState,
)
from orchestrator.services.decisions import decision_finalize, decision_route, decision_submit
from orchestrator.services.degradation import degradation_evaluate
from orchestrator.services.notifications import notification_deliver
from orchestrator.services.reviews import review_submit
from orchestrator.services.tasks import task_claim, task_claim_next
from orchestrator.services.webhooks import webhook_endpoint_create
from tests.support.policies import policy_activate
from tests.support.receiver import Receiver

pytestmark = pytest.mark.django_db
_keys = itertools.count()

LADDER = {
    "enter": {"wait_over_sla": 1.0, "depth_over": 40},
    "exit": {"wait_below_sla": 0.5, "depth_below": 10},
    "min_dwell_seconds": 60,
    "ladder": {
        "low": [
            {"when": {"depth_over": 150}, "action": "auto_decide", "revocation_seconds": 3600, "qa_rate": 0.25},
            {"action": "hold", "max_held": 60},
        ],
        "critical": [{"action": "alert"}],
    },
}


def activate(demo, *, degradation=None, callbacks=None):  # type: ignore[no-untyped-def]
    spec = {
        "fields": {"risk.pep": {"type": "bool", "default": False}},
        "queue": "underwriting",
        "tiers": [
            {"name": "low", "sla_seconds": 3600, "qa": {"rate": 0.0}},
            {
                "name": "critical",
                "priority": 10,
                "sla_seconds": 1800,
                "always_human": True,
                "timeout_outcome": "reject",
            },
        ],
        "tier_rules": [{"tier": "critical", "when": "risk.pep"}],
        "default_tier": "low",
        "gates": [{"name": "confidence", "type": "confidence", "when": {"at_least": 0.9}, "route": "auto_approve"}],
        "default_route": "review",
    }
    if degradation is not None:
        spec["degradation"] = degradation
    if callbacks is not None:
        spec["callbacks"] = callbacks
    policy_activate(demo, spec)


def route_one(demo, *, critical: bool = False, confidence: float = 0.5) -> Decision:  # type: ignore[no-untyped-def]
    decision, _ = decision_submit(
        submitted_by=demo["demo-model"],
        flow="loan_approval",
        idempotency_key=f"deg-{next(_keys)}",
        model_name="m",
        model_version="1",
        output={"label": "approve"},
        confidence=confidence,
        payload={"amount": 1000},
        risk={"pep": critical},
    )
    decision_route(decision_id=str(decision.id))
    decision.refresh_from_db()
    return decision


def work_one(demo, *, seconds: float = 120.0) -> bool:  # type: ignore[no-untyped-def]
    """The simulated reviewer takes the next task and decides it after `seconds` of (simulated) work."""
    task = task_claim_next(queue_slug="underwriting", user=demo["reviewer"])
    if task is None:
        return False
    ReviewTask.objects.filter(pk=task.pk).update(claimed_at=timezone.now() - timedelta(seconds=seconds))
    review_submit(task_id=task.pk, reviewer=demo["reviewer"], verdict="approve")
    return True


def test_500_decisions_one_reviewer_critical_to_people_low_risk_by_the_ladder(demo):  # type: ignore[no-untyped-def]
    activate(demo, degradation=LADDER)
    webhook_endpoint_create(
        actor=demo["supervisor"], name="pager", url="https://pager.example/in", events=["degradation.alert"]
    )
    decisions = []
    for i in range(500):
        decisions.append(route_one(demo, critical=i % 10 == 0, confidence=0.95 if i % 7 == 0 else 0.5))
        if i % 25 == 24:
            degradation_evaluate()  # the beat
        if i % 50 == 49:
            work_one(demo)

    critical = [d for d in decisions if d.risk["pep"]]
    low = [d for d in decisions if not d.risk["pep"]]
    assert len(critical) == 50
    # Critical: every one to people, none held, none auto-decided; alerts raised while degraded.
    for d in critical:
        assert d.route == "review"
        task = ReviewTask.objects.get(decision=d, kind=TaskKind.REVIEW)
        assert task.state in (TaskState.READY, TaskState.RESERVED, TaskState.COMPLETED)
        assert d.explanation["automation"]["mode"] in ("normal", "degraded")
    degraded_critical = [d for d in critical if d.explanation["automation"]["mode"] == "degraded"]
    assert degraded_critical
    alerts = Notification.objects.filter(event="degradation.alert", channel="webhook")
    assert set(alerts.filter(decision_id__in=[d.id for d in critical]).values_list("decision_id", flat=True)) == {
        d.id for d in degraded_critical
    }
    # Low-risk decisions that found the hold bound full went to review, with an alert too.
    bound_full = [d for d in decisions if "bound" in str(d.explanation["automation"].get("applied"))]
    assert alerts.count() == len(degraded_critical) + len(bound_full)

    # Low risk: held while the queue is degraded (bounded), then auto-decided past the depth rung.
    applied = [d.explanation["automation"].get("applied") for d in low]
    held = DegradationHold.objects.filter(released_at__isnull=True)
    assert 0 < held.count() <= 60
    assert applied.count("hold") == held.count()
    assert all(h.task.state == TaskState.SUSPENDED for h in held)
    auto = [d for d in low if d.explanation["automation"].get("applied") == "auto_decide"]
    assert auto and all(d.route == "auto_approve" for d in auto)
    qa = ReviewTask.objects.filter(kind=TaskKind.QA)
    sampled = [d for d in auto if d.explanation["automation"]["qa"]["sampled"]]
    assert qa.count() == len(sampled) > 0
    assert all(t.priority < 0 and t.due_at is not None for t in qa)
    # Before the queue degraded, low-risk decisions were plain reviews.
    assert decisions[1].explanation["automation"] == {
        "paused": False,
        "breaker": "closed",
        "mode": "normal",
        "queue": "underwriting",
    }

    changes = AuditEvent.objects.filter(kind="mode.changed")
    assert [(e.data["from"], e.data["to"]) for e in changes] == [("normal", "degraded")]
    assert changes[0].flow == "loan_approval" and changes[0].queue == "underwriting"
    signals = changes[0].data["signals"]
    assert signals["wait_over_sla"] or signals["depth"] > 40


def test_hysteresis_dwell_and_recovery_release_held_decisions(demo):  # type: ignore[no-untyped-def]
    activate(demo, degradation=LADDER)
    for _ in range(45):
        route_one(demo)
    now = timezone.now()
    [mode] = degradation_evaluate(now=now)
    assert mode.mode == "degraded"
    held = [route_one(demo) for _ in range(3)]
    assert all(d.explanation["automation"]["applied"] == "hold" for d in held)

    # The reviewer works the queue quickly: depth falls under the exit mark ...
    while work_one(demo, seconds=5):
        if ReviewTask.objects.filter(state=TaskState.READY).count() < 5:
            break
    [mode] = degradation_evaluate(now=now + timedelta(seconds=10))
    assert mode.mode == "degraded"  # ... but the minimum dwell time has not passed: no flapping
    [mode] = degradation_evaluate(now=now + timedelta(seconds=61))
    assert mode.mode == "normal"
    for d in held:
        assert ReviewTask.objects.get(decision=d).state == TaskState.READY
    assert not DegradationHold.objects.filter(released_at__isnull=True).exists()
    assert AuditEvent.objects.filter(kind="task.released").count() == 3
    assert [(e.data["from"], e.data["to"]) for e in AuditEvent.objects.filter(kind="mode.changed")] == [
        ("normal", "degraded"),
        ("degraded", "normal"),
    ]
    assert route_one(demo).explanation["automation"]["mode"] == "normal"


def test_a_qa_rejection_within_the_window_revokes_an_auto_decision(demo, settings, api_as):  # type: ignore[no-untyped-def]
    with Receiver(secret=settings.HANDRAIL_CALLBACK_SECRET) as receiver:
        ladder = {
            "enter": {"depth_over": 2},
            "ladder": {"low": [{"action": "auto_decide", "revocation_seconds": 600, "qa_rate": 1.0}]},
        }
        activate(demo, degradation=ladder, callbacks=[{"name": "crm", "url": receiver.url}])
        for _ in range(3):
            route_one(demo)
        degradation_evaluate()
        decision = route_one(demo)
        assert decision.route == "auto_approve"
        assert decision.explanation["callbacks"] == ["crm"]
        decision_finalize(decision_id=str(decision.id), outcome="approved", review_id=None, use_model_output=True)
        qa = ReviewTask.objects.get(decision=decision, kind=TaskKind.QA)
        task_claim(task_id=qa.pk, user=demo["reviewer"])
        review_submit(task_id=qa.pk, reviewer=demo["reviewer"], verdict="reject", reason="fraud_suspected")

        revocation = DecisionRevocation.objects.get(decision=decision)
        assert revocation.verdict == "reject"
        decision.refresh_from_db()
        assert decision.outcome == "approved"  # the record is not rewritten; the revocation is added
        kinds = list(AuditEvent.objects.filter(decision_id=decision.id).order_by("seq").values_list("kind", flat=True))
        assert kinds[-2:] == ["qa.reviewed", "decision.revoked"]
        shown = api_as(demo["demo-model"]).get(f"/api/v1/decisions/{decision.id}").json()
        assert (shown["outcome"], shown["revocation"]["verdict"]) == ("approved", "reject")
        [callback] = Notification.objects.filter(channel="callback", event="decision.revoked")
        assert notification_deliver(notification_id=callback.pk)
    [request] = receiver.requests
    assert request["headers"]["Idempotency-Key"] == f"{decision.id}:revoked"
    assert request["body"]["revoked"] is True and request["body"]["event"] == "decision.revoked"


def test_a_qa_approval_or_a_late_rejection_revokes_nothing(demo):  # type: ignore[no-untyped-def]
    ladder = {
        "enter": {"depth_over": 2},
        "ladder": {"low": [{"action": "auto_decide", "revocation_seconds": 60, "qa_rate": 1.0}]},
    }
    activate(demo, degradation=ladder)
    for _ in range(3):
        route_one(demo)
    degradation_evaluate()
    late = route_one(demo)
    with transaction.atomic():
        ReviewTask.objects.filter(decision=late, kind=TaskKind.QA).update(due_at=timezone.now() - timedelta(seconds=1))
    qa = ReviewTask.objects.get(decision=late, kind=TaskKind.QA)
    task_claim(task_id=qa.pk, user=demo["reviewer"])
    review_submit(task_id=qa.pk, reviewer=demo["reviewer"], verdict="reject", reason="other")
    assert not DecisionRevocation.objects.exists()
    assert AuditEvent.objects.filter(kind="decision.revocation_too_late", decision_id=late.id).exists()


def test_modes_api_shows_mode_capacity_and_wait(demo, api_as):  # type: ignore[no-untyped-def]
    activate(demo, degradation=LADDER)
    for _ in range(45):
        route_one(demo)
    work_one(demo, seconds=60)
    rows = api_as(demo["supervisor"]).get("/api/v1/modes?refresh=1").json()
    [row] = [r for r in rows if r["flow"] == "loan_approval" and r["queue"] == "underwriting"]
    assert row["mode"] == "degraded" and row["depth"] == 44
    assert row["active_reviewers"] == 1 and row["handle_seconds"] == pytest.approx(60, abs=1)
    assert row["capacity_per_hour"] == pytest.approx(60, abs=1)
    assert row["predicted_wait_seconds"] == pytest.approx(44 * 60, rel=0.05)
    assert (row["breaker"], row["paused"], row["sla_seconds"]) == ("closed", False, 1800)
    assert QueueMode.objects.get().signals["wait_over_sla"] is True
    assert api_as(demo["reviewer"]).get("/api/v1/modes").status_code == 403


def test_bad_degradation_in_a_policy_is_a_400_naming_the_field(demo, api_as):  # type: ignore[no-untyped-def]
    client = api_as(demo["supervisor"])
    base = {"queue": "underwriting", "tiers": [{"name": "low"}, {"name": "critical", "always_human": True}]}
    cases = [
        (
            {"degradation": {"ladder": {"low": [{"action": "hold", "max_held": 3, "queue": "ghost"}]}}},
            "spec.degradation.ladder.low[0].queue",
        ),
        (
            {
                "degradation": {
                    "ladder": {"critical": [{"action": "auto_decide", "revocation_seconds": 60, "qa_rate": 1}]}
                }
            },
            "spec.degradation.ladder.critical[0].action",
        ),
        ({"callbacks": [{"name": "crm", "url": "ftp://crm.example/in"}]}, "spec.callbacks[0].url"),
    ]
    for extra, field in cases:
        response = client.post("/api/v1/policies", {"flow": "loan_approval", "spec": {**base, **extra}}, format="json")
        assert response.status_code == 400, response.content
        assert response.json()["fields"][0]["field"] == field

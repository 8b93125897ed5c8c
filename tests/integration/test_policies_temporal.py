"""A running workflow keeps the policy version that routed it when a new version activates (real Temporal).

"Pinned" means: the version active when the workflow's routing step commits is stored on the decision,
and every later step, retry or replay of that workflow uses the stored routing. A decision whose
workflow has not routed yet (e.g. no worker was running) is routed by the version active at routing.
"""

import time

import pytest

from orchestrator.models import Decision
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.temporal, pytest.mark.django_db(transaction=True)]


def submit(client, key: str, confidence: float):  # type: ignore[no-untyped-def]
    response = client.post(
        "/api/v1/decisions",
        {
            "flow": "loan_approval",
            "idempotency_key": key,
            "model": {"name": "credit-gbm", "version": "7"},
            "output": {"label": "approve"},
            "confidence": confidence,
            "payload": {"amount": 1000},
            "risk": {},
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    return response.json()["id"]


def state(decision_id: str) -> tuple[str, str, int | None]:
    decision = Decision.objects.select_related("policy").get(pk=decision_id)
    return decision.status, decision.route, decision.policy.version if decision.policy else None


def activate(demo, api_as, threshold: float) -> int:  # type: ignore[no-untyped-def]
    author, approver = api_as(demo["supervisor"]), api_as(demo["compliance"])
    spec = {"queue": "underwriting", "confidence_threshold": threshold}
    policy = author.post("/api/v1/policies", {"flow": "loan_approval", "spec": spec}, format="json").json()
    author.post(f"/api/v1/policies/{policy['id']}/submit")
    approved = approver.post(f"/api/v1/policies/{policy['id']}/approve")
    assert approved.status_code == 200, approved.content
    return approved.json()["version"]


def test_pinned_version_survives_activation_of_a_new_one_mid_flight(demo, worker, api_as):
    model = api_as(demo["demo-model"])
    held = submit(model, "pin-a", 0.85)  # v1 (threshold 0.9): waits for a person
    wait_for(lambda: state(held) == ("in_review", "review", 1), what="routing under v1")

    assert activate(demo, api_as, 0.8) == 2  # v2 would auto-approve 0.85
    fresh = submit(model, "pin-b", 0.85)
    wait_for(lambda: state(fresh) == ("completed", "auto_approve", 2), what="auto-approval under v2")
    time.sleep(0.5)
    assert state(held) == ("in_review", "review", 1)  # the running workflow kept v1

    # No worker: intake commits, but nothing routes until a worker runs the workflow.
    worker.stop()
    waiting = submit(model, "pin-c", 0.85)
    assert activate(demo, api_as, 0.9) == 3
    assert state(waiting) == ("received", "", None)
    worker.start()
    wait_for(lambda: state(waiting) == ("in_review", "review", 3), what="routing under v3 once a worker runs")
    assert Decision.objects.get(pk=waiting).explanation["policy_version"] == 3
    assert state(held)[2] == 1 and state(fresh)[2] == 2

"""The walking skeleton end to end: API -> Postgres -> Temporal workflow -> review -> finalize."""

import pytest
from django.db.models import Count

from orchestrator.models import AuditEvent, Decision, Outbox, OutboxTopic, ReviewTask
from orchestrator.services.outbox import outbox_sweep
from orchestrator.temporal.client import gateway
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.temporal, pytest.mark.django_db(transaction=True)]


def submit(client, *, key: str, confidence: float, output=None):  # type: ignore[no-untyped-def]
    return client.post(
        "/api/v1/decisions",
        {
            "flow": "loan_approval",
            "idempotency_key": key,
            "model": {"name": "credit-gbm", "version": "7"},
            "output": output or {"label": "approve"},
            "confidence": confidence,
            "payload": {"applicant": "A-1", "amount": 25000, "income": 64000},
            "risk": {"country": "DE"},
        },
        format="json",
    )


def decision_status(decision_id: str) -> str:
    return Decision.objects.values_list("status", flat=True).get(pk=decision_id)


def test_confident_decision_completes_approved_without_a_task(demo, worker, api_as):
    response = submit(api_as(demo["demo-model"]), key="c-1", confidence=0.97)
    assert response.status_code == 201, response.content
    decision_id = response.json()["id"]
    assert response.json()["workflow_id"] == f"decision-{decision_id}"

    wait_for(lambda: decision_status(decision_id) == "completed", what="completion")
    body = api_as(demo["compliance"]).get(f"/api/v1/decisions/{decision_id}").json()
    assert (body["status"], body["outcome"], body["route"]) == ("completed", "approved", "auto_approve")
    assert body["final_output"] == {"label": "approve"}
    assert body["policy_version"] == 1
    assert body["explanation"]["fired"] == "confidence"
    assert not ReviewTask.objects.filter(decision_id=decision_id).exists()

    events = api_as(demo["compliance"]).get(f"/api/v1/audit/events?decision={decision_id}").json()
    assert [e["kind"] for e in events] == ["decision.received", "decision.routed", "decision.finalized"]
    assert [e["seq"] for e in events] == sorted(e["seq"] for e in events)
    assert events[0]["actor"] == "demo-model"


def test_low_confidence_decision_is_reviewed_and_completes(demo, worker, api_as):
    decision_id = submit(api_as(demo["demo-model"]), key="r-1", confidence=0.42).json()["id"]
    wait_for(lambda: decision_status(decision_id) == "in_review", what="routing to review")

    reviewer = api_as(demo["reviewer"])
    queues = reviewer.get("/api/v1/queues/").json()
    assert [(q["slug"], q["ready"]) for q in queues] == [("underwriting", 1)]
    claimed = reviewer.post("/api/v1/queues/underwriting/claim")
    assert claimed.status_code == 200, claimed.content
    task = claimed.json()
    assert task["decision"]["id"] == decision_id
    assert task["state"] == "reserved"

    verdict = reviewer.post(f"/api/v1/tasks/{task['id']}/review", {"verdict": "approve"}, format="json")
    assert verdict.status_code == 201, verdict.content

    wait_for(lambda: decision_status(decision_id) == "completed", what="completion after review")
    body = reviewer.get(f"/api/v1/decisions/{decision_id}").json()
    assert (body["status"], body["outcome"], body["route"]) == ("completed", "approved", "review")
    kinds = list(AuditEvent.objects.filter(decision_id=decision_id).order_by("seq").values_list("kind", flat=True))
    assert kinds == [
        "decision.received",
        "decision.routed",
        "task.created",
        "task.claimed",
        "review.submitted",
        "decision.finalized",
    ]
    assert reviewer.post("/api/v1/queues/underwriting/claim").status_code == 204


def test_modify_verdict_sets_the_corrected_output(demo, worker, api_as):
    decision_id = submit(api_as(demo["demo-model"]), key="m-1", confidence=0.3).json()["id"]
    wait_for(lambda: decision_status(decision_id) == "in_review", what="routing to review")
    reviewer = api_as(demo["reviewer"])
    task = reviewer.post("/api/v1/queues/underwriting/claim").json()
    response = reviewer.post(
        f"/api/v1/tasks/{task['id']}/review",
        {"verdict": "modify", "reason": "wrong_terms", "output": {"label": "approve", "limit": 10000}},
        format="json",
    )
    assert response.status_code == 201, response.content
    wait_for(lambda: decision_status(decision_id) == "completed", what="completion")
    decision = Decision.objects.get(pk=decision_id)
    assert decision.outcome == "modified"
    assert decision.final_output == {"label": "approve", "limit": 10000}


def test_repeated_idempotency_key_returns_the_first_decision_and_starts_no_second_workflow(demo, worker, api_as):
    client = api_as(demo["demo-model"])
    first = submit(client, key="dup-1", confidence=0.95)
    second = submit(client, key="dup-1", confidence=0.95)
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["id"] == second.json()["id"]
    decision_id = first.json()["id"]
    wait_for(lambda: decision_status(decision_id) == "completed", what="completion")

    assert Decision.objects.filter(idempotency_key="dup-1").count() == 1
    assert Outbox.objects.filter(topic=OutboxTopic.WORKFLOW_START, key=decision_id).count() == 1
    # Starting again is refused by Temporal (same workflow id), so a retried start is harmless.
    assert gateway.start_decision(decision_id) is False
    assert AuditEvent.objects.filter(decision_id=decision_id, kind="decision.finalized").count() == 1

    different = submit(client, key="dup-1", confidence=0.5)
    assert different.status_code == 409
    assert different.json()["fields"][0]["field"] == "idempotency_key"


def test_verdict_committed_while_the_worker_is_down_is_delivered_when_it_returns(demo, worker, api_as, settings):
    settings.TEMPORAL_RPC_TIMEOUT_SECONDS = 1.0  # fail fast while nobody can accept the update
    decision_id = submit(api_as(demo["demo-model"]), key="w-1", confidence=0.2).json()["id"]
    wait_for(lambda: decision_status(decision_id) == "in_review", what="routing to review")
    reviewer = api_as(demo["reviewer"])
    task = reviewer.post("/api/v1/queues/underwriting/claim").json()

    worker.stop()
    response = reviewer.post(
        f"/api/v1/tasks/{task['id']}/review", {"verdict": "reject", "reason": "fraud_suspected"}, format="json"
    )
    assert response.status_code == 201  # committed, although Temporal cannot take it now
    message = Outbox.objects.get(topic=OutboxTopic.VERDICT, key=response.json()["id"])
    wait_for(lambda: Outbox.objects.get(pk=message.pk).attempts >= 1, what="the first delivery attempt")
    message.refresh_from_db()
    assert message.delivered_at is None and "Timeout" in message.last_error
    assert decision_status(decision_id) == "in_review"

    worker.start()
    # The beat sweeper's job: retry what is due until the workflow has it.
    wait_for(
        lambda: outbox_sweep() >= 0 and decision_status(decision_id) == "completed",
        timeout=30,
        what="completion after the worker returned",
    )
    decision = Decision.objects.get(pk=decision_id)
    assert decision.outcome == "rejected"
    # The server may have handed the first (timed-out) attempt to the returning worker; either way the
    # relay ends with the message acknowledged, not abandoned.
    wait_for(
        lambda: outbox_sweep() >= 0 and Outbox.objects.get(pk=message.pk).delivered_at is not None,
        timeout=30,
        what="the outbox row to be acknowledged",
    )
    assert Outbox.objects.get(pk=message.pk).abandoned_at is None
    assert AuditEvent.objects.filter(decision_id=decision_id, kind="decision.finalized").count() == 1
    # A redelivery after completion changes nothing.
    assert outbox_sweep() == 0


def test_audit_chain_of_a_full_run_verifies(demo, worker, api_as):
    from orchestrator.audit.chain import audit_verify

    ids = [submit(api_as(demo["demo-model"]), key=f"v-{i}", confidence=0.99).json()["id"] for i in range(5)]
    for decision_id in ids:
        wait_for(lambda d=decision_id: decision_status(d) == "completed", what="completion")
    assert audit_verify() == []
    per_partition = AuditEvent.objects.values("partition").annotate(n=Count("id"))
    assert sum(row["n"] for row in per_partition) == AuditEvent.objects.count()


def test_the_workflow_rechecks_four_eyes_and_takes_a_verdict_once(demo, worker, api_as):
    from temporalio.client import WorkflowUpdateFailedError

    from workflows.contracts import VerdictInput

    decision_id = submit(api_as(demo["demo-model"]), key="u-1", confidence=0.3).json()["id"]
    wait_for(lambda: decision_status(decision_id) == "in_review", what="routing to review")
    task_id = str(ReviewTask.objects.get(decision_id=decision_id).id)

    forged = [
        VerdictInput(review_id="r-1", task_id=task_id, verdict="approve", reviewer="demo-model"),  # its own submitter
        VerdictInput(review_id="r-2", task_id="not-the-task", verdict="approve", reviewer="reviewer"),
        VerdictInput(review_id="r-3", task_id=task_id, verdict="approve", reviewer="x", reviewers=["x", "x"]),
        VerdictInput(review_id="r-4", task_id=task_id, verdict="maybe", reviewer="reviewer"),
    ]
    for verdict in forged:
        with pytest.raises(WorkflowUpdateFailedError):
            gateway.deliver_verdict(decision_id, verdict)
    assert decision_status(decision_id) == "in_review"

    reviewer = api_as(demo["reviewer"])
    task = reviewer.post("/api/v1/queues/underwriting/claim").json()
    review_id = reviewer.post(f"/api/v1/tasks/{task['id']}/review", {"verdict": "approve"}, format="json").json()["id"]
    wait_for(lambda: decision_status(decision_id) == "completed", what="completion")
    finalized = AuditEvent.objects.get(decision_id=decision_id, kind="decision.finalized")
    assert finalized.data["review_id"] == review_id

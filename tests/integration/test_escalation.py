"""SLA escalation and the final deadline run on durable Temporal timers (time-skipping test server).

A day of waiting passes in about a second: the escalation chain fires in order, each step applied
by the real services against Postgres, and the final deadline applies the tier's timeout outcome.
"""

import asyncio
import itertools
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core import mail
from temporalio.testing import WorkflowEnvironment

from orchestrator.models import AuditEvent, Decision, Notification, Outbox, OutboxTopic, Queue, ReviewTask, TaskState
from orchestrator.services.decisions import decision_submit
from orchestrator.services.notifications import notification_sweep
from orchestrator.services.reviews import review_submit
from orchestrator.services.tasks import task_claim
from orchestrator.temporal.client import gateway
from orchestrator.temporal.worker import build_worker
from tests.support.policies import policy_activate
from tests.support.temporal import temporal_test_server
from workflows.contracts import DECISION_WORKFLOW, DecisionInput, DecisionResult

pytestmark = [pytest.mark.temporal, pytest.mark.django_db(transaction=True)]
_keys = itertools.count()
HOUR = 3600


def activate(demo, tier: dict) -> None:  # type: ignore[no-untyped-def]
    spec = {
        "queue": "underwriting",
        "tiers": [{"name": "standard", **tier}],
        "gates": [{"name": "confidence", "type": "confidence", "when": {"at_least": 0.9}, "route": "auto_approve"}],
        "default_route": "review",
    }
    policy_activate(demo, spec)


def submit(demo) -> str:  # type: ignore[no-untyped-def]
    decision, _ = decision_submit(
        submitted_by=demo["demo-model"],
        flow="loan_approval",
        idempotency_key=f"esc-{next(_keys)}",
        model_name="m",
        model_version="1",
        output={"label": "approve"},
        confidence=0.4,
        payload={"amount": 1000},
        risk={},
    )
    return str(decision.id)


def run_workflow(decision_id: str, settings, *, during=None) -> DecisionResult:  # type: ignore[no-untyped-def]
    """Run the decision's workflow on the time-skipping server with the real activities; verdicts reach
    it through the real outbox relay (the app's Temporal address points at this server)."""
    server = temporal_test_server()

    async def main() -> DecisionResult:
        async with await WorkflowEnvironment.start_time_skipping(test_server_existing_path=server) as env:
            settings.TEMPORAL_ADDRESS = env.client.service_client.config.target_host
            gateway.reset()
            queue = f"esc-{uuid.uuid4().hex[:8]}"
            with ThreadPoolExecutor(max_workers=settings.TEMPORAL_ACTIVITY_THREADS) as executor:
                async with build_worker(env.client, executor, task_queue=queue):
                    handle = await env.client.start_workflow(
                        DECISION_WORKFLOW,
                        DecisionInput(decision_id=decision_id),
                        id=f"decision-{decision_id}",
                        task_queue=queue,
                        result_type=DecisionResult,
                    )
                    if during is not None:
                        await during(env, handle)
                    return await handle.result()

    return asyncio.run(main())


async def delivered(decision_id: str) -> None:
    """Wait (without skipping time) until the outbox relay has handed the verdict to the workflow."""

    def done() -> bool:
        return Outbox.objects.filter(
            topic=OutboxTopic.VERDICT, payload__decision_id=decision_id, delivered_at__isnull=False
        ).exists()

    for _ in range(400):
        if await asyncio.to_thread(done):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the verdict was not delivered")


@pytest.fixture
def people(demo, settings):  # type: ignore[no-untyped-def]
    settings.TEMPORAL_ADDRESS = "127.0.0.1:9"  # intake's workflow start goes nowhere: the test starts it
    escalations = Queue.objects.create(slug="escalations", name="Escalations")
    escalations.members.add(demo["supervisor"])
    for name in ("supervisor",):
        demo[name].email = f"{name}@example.test"
        demo[name].save()
    escalations.supervisors.add(demo["supervisor"])
    return demo


def test_escalation_chain_fires_in_order_then_the_timeout_outcome_rejects(people, settings):
    activate(
        people,
        {
            "sla_seconds": 24 * HOUR,
            "timeout_outcome": "reject",
            "escalation": [
                {"after_seconds": 1 * HOUR, "action": "notify", "when": "unclaimed"},
                {"after_seconds": 2 * HOUR, "action": "raise_priority", "priority": 7},
                {"after_seconds": 4 * HOUR, "action": "reassign", "queue": "escalations"},
            ],
        },
    )
    decision_id = submit(people)
    result = run_workflow(decision_id, settings)

    assert (result.outcome, result.route) == ("rejected", "review")
    decision = Decision.objects.get(pk=decision_id)
    assert (decision.status, decision.outcome) == ("completed", "rejected")
    task = ReviewTask.objects.get(decision_id=decision_id)
    assert (task.state, task.escalation_level, task.priority, task.queue.slug) == (
        TaskState.EXPIRED,
        3,
        7,
        "escalations",
    )
    events = AuditEvent.objects.filter(decision_id=decision_id).order_by("seq")
    kinds = [e.kind for e in events]
    assert kinds[-5:] == [
        "task.escalated",
        "task.escalated",
        "task.escalated",
        "task.deadline_passed",
        "decision.finalized",
    ]
    levels = [e.data["level"] for e in events if e.kind == "task.escalated"]
    assert levels == [1, 2, 3]
    finalized = events.get(kind="decision.finalized")
    assert finalized.data["reason"] == "timeout"
    # the supervisors heard about each step and the deadline (email via the notification outbox)
    assert Notification.objects.filter(decision_id=decision_id, event="task.escalated").count() == 3
    assert Notification.objects.filter(decision_id=decision_id, event="task.deadline_passed").count() == 1
    assert notification_sweep() == 4
    assert sorted(m.subject.split(":")[0] for m in mail.outbox) == ["Deadline passed"] + ["Escalation level 1"] + [
        "Escalation level 2",
        "Escalation level 3",
    ]


def test_a_step_for_unclaimed_tasks_is_skipped_once_someone_claimed_and_a_verdict_beats_the_deadline(people, settings):
    activate(
        people,
        {
            "sla_seconds": 8 * HOUR,
            "timeout_outcome": "reject",
            "escalation": [{"after_seconds": 1 * HOUR, "action": "notify", "when": "unclaimed"}],
        },
    )
    decision_id = submit(people)

    async def claim_and_approve(env, handle):  # type: ignore[no-untyped-def]
        # claim right away (before the first step is due), approve after the step's time has passed
        def wait_task() -> ReviewTask | None:
            return ReviewTask.objects.filter(decision_id=decision_id).first()

        for _ in range(200):
            task = await asyncio.to_thread(wait_task)
            if task:
                break
            await asyncio.sleep(0.05)
        assert task is not None
        await asyncio.to_thread(task_claim, task_id=task.id, user=people["reviewer"])
        await env.sleep(2 * HOUR)
        await asyncio.to_thread(review_submit, task_id=task.id, reviewer=people["reviewer"], verdict="approve")
        await delivered(decision_id)

    result = run_workflow(decision_id, settings, during=claim_and_approve)
    assert result.outcome == "approved"
    task = ReviewTask.objects.get(decision_id=decision_id)
    assert task.escalation_level == 0  # the unclaimed-only step found it claimed
    assert not AuditEvent.objects.filter(decision_id=decision_id, kind="task.escalated").exists()
    assert not AuditEvent.objects.filter(decision_id=decision_id, kind="task.deadline_passed").exists()


def test_hold_on_timeout_waits_for_a_supervisor(people, settings):
    Queue.objects.filter(slug="underwriting").update(escalation_target=Queue.objects.get(slug="escalations"))
    activate(people, {"sla_seconds": 2 * HOUR, "timeout_outcome": "hold"})
    decision_id = submit(people)

    async def supervisor_decides(env, handle):  # type: ignore[no-untyped-def]
        await env.sleep(3 * HOUR)

        def held() -> ReviewTask | None:
            return ReviewTask.objects.filter(decision_id=decision_id, state=TaskState.ESCALATED).first()

        task = None
        for _ in range(200):
            task = await asyncio.to_thread(held)
            if task:
                break
            await asyncio.sleep(0.05)
        assert task is not None and task.queue.slug == "escalations"
        await asyncio.to_thread(task_claim, task_id=task.id, user=people["supervisor"])
        await asyncio.to_thread(
            review_submit, task_id=task.id, reviewer=people["supervisor"], verdict="reject", reason="fraud_suspected"
        )
        await delivered(decision_id)

    result = run_workflow(decision_id, settings, during=supervisor_decides)
    assert result.outcome == "rejected"
    events = list(AuditEvent.objects.filter(decision_id=decision_id).values_list("kind", flat=True).order_by("seq"))
    assert "task.deadline_passed" in events and events[-1] == "decision.finalized"
    assert AuditEvent.objects.get(decision_id=decision_id, kind="decision.finalized").data["reason"] == "review"

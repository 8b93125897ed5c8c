"""The human side of a workflow: verdicts arrive as Updates; escalation and deadlines run on timers.

`ReviewDesk` is created once per workflow run (in the workflow's `__init__`). It registers the
`review.verdict` Update with a validator that re-checks four-eyes and separation of duties, and
`await_verdict(route)` waits for the verdict of one review task while running the policy's
escalation chain on durable timers and, at the final deadline, the tier's timeout outcome.
Deterministic: time is `workflow.now()`, waiting is `workflow.wait_condition`.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

from workflows.contracts import (
    DEADLINE_ACTIVITY,
    ESCALATE_ACTIVITY,
    VERDICT_OUTCOMES,
    VERDICT_UPDATE,
    DeadlineInput,
    DeadlineResult,
    EscalateInput,
    EscalateResult,
    RouteResult,
    VerdictInput,
)

# Short database steps run as local activities; they are idempotent services, retried until they
# succeed or refuse (a non-retryable domain error).
STEP_TIMEOUT = timedelta(seconds=30)
STEP_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=200), maximum_interval=timedelta(seconds=30))


@dataclass
class ReviewOutcome:
    """How a review ended: a verdict, or the final deadline with the tier's timeout outcome."""

    verdict: VerdictInput | None = None
    timed_out: bool = False
    timeout_outcome: str = ""


class ReviewDesk:
    """Takes verdicts for the review tasks this workflow waits on; one instance per workflow run."""

    def __init__(self) -> None:
        self._routes: dict[str, RouteResult] = {}  # task id -> the route that created it
        self._settled: dict[str, VerdictInput] = {}  # task id -> its verdict
        self._seen: set[str] = set()  # review ids taken, so a redelivery is a no-op
        workflow.set_update_handler(VERDICT_UPDATE, self._take, validator=self._check)

    def _check(self, verdict: VerdictInput) -> None:
        """Four-eyes and separation of duties, re-checked here after the database enforced them."""
        if verdict.review_id in self._seen:
            return
        route = self._routes.get(verdict.task_id)
        if route is None:
            raise ValueError(f"this workflow waits on no review task {verdict.task_id}")
        if verdict.task_id in self._settled:
            raise ValueError("this review already has its verdict")
        if verdict.verdict not in VERDICT_OUTCOMES:
            raise ValueError(f"unknown verdict {verdict.verdict!r}")
        reviewers = verdict.reviewers or [verdict.reviewer]
        if len(set(reviewers)) != len(reviewers):
            raise ValueError("a reviewer is counted twice")
        if len(reviewers) < route.required_reviewers:
            raise ValueError(f"{len(reviewers)} reviewer(s); the route requires {route.required_reviewers}")
        if route.submitter and route.submitter in reviewers:
            raise ValueError("the submitting account reviewed its own decision")

    def _take(self, verdict: VerdictInput) -> str:
        if verdict.review_id in self._seen:
            return "duplicate"
        self._seen.add(verdict.review_id)
        self._settled[verdict.task_id] = verdict
        return "accepted"

    def expect(self, route: RouteResult) -> None:
        """Accept verdicts for the route's task from now on."""
        assert route.task_id is not None
        self._routes[route.task_id] = route

    async def _settled_by(self, task_id: str, deadline: datetime | None) -> bool:
        """Wait until the task has its verdict or the deadline passes; True when it has one."""
        if deadline is None:
            await workflow.wait_condition(lambda: task_id in self._settled)
            return True
        remaining = (deadline - workflow.now()).total_seconds()
        if remaining > 0:
            try:
                await workflow.wait_condition(lambda: task_id in self._settled, timeout=timedelta(seconds=remaining))
            except TimeoutError:
                pass
        return task_id in self._settled

    async def await_verdict(self, route: RouteResult, *, decision_id: str) -> ReviewOutcome:
        """Wait for the route's task to be settled, escalating on the way; then the final deadline."""
        self.expect(route)
        task_id = route.task_id
        assert task_id is not None
        clock = workflow.now()
        for level, step in enumerate(route.escalation, start=1):
            if await self._settled_by(task_id, clock + timedelta(seconds=step["after_seconds"])):
                return ReviewOutcome(verdict=self._settled[task_id])
            await workflow.execute_local_activity(
                ESCALATE_ACTIVITY,
                EscalateInput(decision_id=decision_id, task_id=task_id, level=level, step=step),
                result_type=EscalateResult,
                start_to_close_timeout=STEP_TIMEOUT,
                retry_policy=STEP_RETRY,
            )
            if step.get("reset_clock"):
                clock = workflow.now()
        deadline = clock + timedelta(seconds=route.sla_seconds) if route.sla_seconds else None
        if await self._settled_by(task_id, deadline):
            return ReviewOutcome(verdict=self._settled[task_id])
        outcome = route.timeout_outcome or "hold"
        passed = await workflow.execute_local_activity(
            DEADLINE_ACTIVITY,
            DeadlineInput(decision_id=decision_id, task_id=task_id, outcome=outcome),
            result_type=DeadlineResult,
            start_to_close_timeout=STEP_TIMEOUT,
            retry_policy=STEP_RETRY,
        )
        if not passed.passed or outcome == "hold":
            # A verdict was committed just before the deadline (it is on its way), or the task now
            # waits for a supervisor: either way a person settles it.
            await self._settled_by(task_id, None)
            return ReviewOutcome(verdict=self._settled[task_id])
        return ReviewOutcome(timed_out=True, timeout_outcome=outcome)

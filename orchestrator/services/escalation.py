"""SLA escalation and the final deadline, applied when the decision workflow's durable timers fire.

The workflow decides *when* (timers from the pinned policy); these services decide *whether* (the
task's state in Postgres is the truth: a step for an unclaimed task is skipped once it is claimed,
and a deadline yields to a verdict that was committed first).
"""

from typing import Any

from django.db import transaction
from django.utils import timezone

from orchestrator.errors import NotFound
from orchestrator.models import HELD_STATES, OPEN_STATES, Queue, TaskState
from orchestrator.services.notifications import notify_event, notify_supervisors
from orchestrator.services.task_rules import clear_claim, task_lock
from orchestrator.services.tasks import task_audit


def _notify(task: Any, *, event: str, subject: str, dedupe: str) -> int:
    queue = task.queue
    body = (
        f"{subject}\n\nDecision {task.decision_id} ({task.decision.flow}), task {task.id} in queue {queue.slug}, "
        f"escalation level {task.escalation_level}, due {task.due_at.isoformat() if task.due_at else 'n/a'}."
    )
    sent = notify_supervisors(
        queue=queue, event=event, subject=subject, body=body, decision_id=task.decision_id, dedupe=dedupe
    )
    hooks = notify_event(
        event=event,
        flow=task.decision.flow,
        queue=queue.slug,
        decision_id=task.decision_id,
        payload={
            "task_id": str(task.id),
            "subject": subject,
            "escalation_level": task.escalation_level,
            "priority": task.priority,
            "state": task.state,
            "due_at": task.due_at.isoformat() if task.due_at else None,
        },
        dedupe=dedupe,
    )
    return len(sent) + len(hooks)


@transaction.atomic
def task_escalate(*, task_id: Any, level: int, step: dict[str, Any]) -> tuple[bool, str]:
    """Apply one escalation step (notify, raise_priority, reassign) if its condition still holds.

    Idempotent: a step already applied at this level is not applied twice.
    """
    task = task_lock(task_id=task_id)
    if task.state not in OPEN_STATES:
        return False, f"task is {task.state}"
    if task.escalation_level >= level:
        return False, f"level {level} already applied"
    if step.get("when") == "unclaimed" and (task.state in HELD_STATES or task.reviews.exists()):
        return False, "task was claimed in time"
    action = step["action"]
    before = {"queue": task.queue.slug, "priority": task.priority, "state": task.state}
    task.escalation_level = level
    detail = action
    if action == "raise_priority":
        task.priority = max(task.priority + 1, int(step.get("priority", task.priority + 1)))
    elif action == "reassign":
        target = Queue.objects.filter(slug=step["queue"]).first()
        if target is None:
            raise NotFound(f"escalation queue {step['queue']!r} does not exist", field="queue")
        task.queue = target
        task.state = TaskState.ESCALATED
        clear_claim(task)
        if "priority" in step:
            task.priority = max(task.priority, int(step["priority"]))
    task.save()
    notified = _notify(
        task,
        event="task.escalated",
        subject=f"Escalation level {level}: a {task.decision.flow} decision waits too long",
        dedupe=f"escalate:{task.id}:{level}",
    )
    task_audit(
        task,
        kind="task.escalated",
        actor="workflow",
        data={"level": level, "step": step, "before": before, "priority": task.priority, "notified": notified},
    )
    return True, detail


@transaction.atomic
def task_deadline_pass(*, task_id: Any, outcome: str) -> tuple[bool, str]:
    """The final deadline passed. `hold`: the task waits for a supervisor (escalated, next level);
    `reject`/`approve`: the task expires and the workflow settles the decision by the timeout outcome.

    Returns (passed, state). passed=False when the task was already decided: the committed verdict
    wins and is on its way to the workflow.
    """
    task = task_lock(task_id=task_id)
    if task.deadline_passed_at is not None:
        return True, task.state  # a retried activity: already applied
    if task.state == TaskState.COMPLETED or task.final_review_id:
        return False, task.state
    now = timezone.now()
    before = task.state
    task.deadline_passed_at = now
    if outcome == "hold":
        task.state = TaskState.ESCALATED
        task.escalation_level += 1
        task.queue = task.queue.escalation_target or task.queue
        clear_claim(task)
    else:
        task.state = TaskState.EXPIRED
        task.completed_at = now
    task.save()
    if outcome != "hold":
        task.children.filter(state__in=OPEN_STATES).update(state=TaskState.CANCELLED)
    _notify(
        task,
        event="task.deadline_passed",
        subject=f"Deadline passed: a {task.decision.flow} decision was not decided in time ({outcome})",
        dedupe=f"deadline:{task.id}",
    )
    task_audit(
        task,
        kind="task.deadline_passed",
        actor="workflow",
        data={"timeout_outcome": outcome, "before": before, "due_at": task.due_at.isoformat() if task.due_at else None},
    )
    return True, task.state

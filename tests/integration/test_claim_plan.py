"""The next-task claim: its generic plan walks the ready index, and its SQL agrees with the Python
rule (`reviewer_refusal`) on who may take a task."""

import itertools
import re
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from orchestrator.bench.queues import fill_ready_tasks
from orchestrator.models import Queue, Review, ReviewTask, TaskSkip
from orchestrator.services import tasks as svc
from orchestrator.services.absence import absence_set
from orchestrator.services.claim_sql import CLAIM_READY
from orchestrator.services.task_rules import reviewer_refusal
from tests.integration.test_task_lifecycle import make_task, reviewer

pytestmark = pytest.mark.django_db
_names = itertools.count()

_TYPES = {
    "queue": "bigint",
    "user": "integer",
    "standing_in_for": "integer[]",
    "username": "text",
    "now": "timestamptz",
    "lease": "timestamptz",
}


def test_generic_plan_of_the_claim_walks_the_ready_index(demo):
    """A prepared statement settles on a generic plan; it must stop at the first eligible task of the
    index walk, not join every decision and sort the queue."""
    queue = Queue.objects.get(slug="underwriting")
    fill_ready_tasks(total=20_000, submitter_id=demo["demo-model"].pk, queue_ids=[queue.pk], key_prefix="plan-")
    names: list[str] = []

    def placeholder(match: re.Match[str]) -> str:
        if match.group(1) not in names:
            names.append(match.group(1))
        return f"${names.index(match.group(1)) + 1}"

    body = re.sub(r"%\((\w+)\)s", placeholder, CLAIM_READY)
    types = ", ".join(_TYPES[name] for name in names)
    now = timezone.now()
    values = {
        "queue": queue.pk,
        "user": demo["reviewer"].pk,
        "standing_in_for": "{}",
        "username": '["reviewer"]',
        "now": now,
        "lease": now + timedelta(minutes=15),
    }
    with connection.cursor() as cursor:
        cursor.execute("SET plan_cache_mode = force_generic_plan")
        try:
            cursor.execute(f"PREPARE claim_plan_probe ({types}) AS {body}")
            marks = ", ".join(["%s"] * len(names))
            cursor.execute(f"EXPLAIN EXECUTE claim_plan_probe ({marks})", [values[name] for name in names])
            plan = "\n".join(row[0] for row in cursor.fetchall())
        finally:
            cursor.execute("DEALLOCATE ALL")
            cursor.execute("RESET plan_cache_mode")
    assert "Index Scan using task_next_ready" in plan, plan
    assert "Sort" not in plan, plan
    assert "Seq Scan on orchestrator_decision" not in plan, plan


def _fresh(demo) -> ReviewTask:  # type: ignore[no-untyped-def]
    ReviewTask.objects.filter(queue__slug="underwriting", state="ready").update(state="cancelled")
    return make_task(demo)


@pytest.mark.parametrize(
    "case",
    ["eligible", "submitter", "excluded", "already_reviewed", "skipped", "assigned_elsewhere", "standing_in"],
)
def test_claim_sql_agrees_with_reviewer_refusal(demo, case):
    user = reviewer(f"twin-{next(_names)}")
    task = _fresh(demo)
    expect_claim = True
    if case == "submitter":
        task.decision.submitted_by = user
        task.decision.save(update_fields=["submitted_by"])
    elif case == "excluded":
        task.decision.excluded_reviewers = [user.username]
        task.decision.save(update_fields=["excluded_reviewers"])
    elif case == "already_reviewed":
        Review.objects.create(decision=task.decision, task=task, reviewer=user, verdict="approve")
    elif case == "skipped":
        TaskSkip.objects.create(task=task, reviewer=user)
        expect_claim = False
    elif case == "assigned_elsewhere":
        ReviewTask.objects.filter(pk=task.pk).update(assigned_to=reviewer(f"twin-{next(_names)}"))
        expect_claim = False
    elif case == "standing_in":
        away = reviewer(f"twin-{next(_names)}")
        ReviewTask.objects.filter(pk=task.pk).update(assigned_to=away)
        absence_set(
            user=away,
            delegate=user,
            starts_at=timezone.now() - timedelta(hours=1),
            ends_at=timezone.now() + timedelta(days=1),
        )
    task.refresh_from_db()
    if case not in ("skipped", "assigned_elsewhere"):
        expect_claim = reviewer_refusal(task=task, user=user) is None
    claimed = svc.task_claim_next(queue_slug="underwriting", user=user)
    assert (claimed is not None) == expect_claim, case
    assert expect_claim == (case in ("eligible", "standing_in")), case
    if case == "standing_in":
        assert claimed.acting_for_id == task.assigned_to_id

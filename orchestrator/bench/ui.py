"""`bench ui`: page response times of the review UI with a deep backlog.

100,000 pending tasks (at --scale 1) in the demo's `underwriting` queue, plus a day of completed
tasks (for the throughput chart) and tasks held by a few reviewers, filled in SQL. Then Django's
test Client — the whole request path: middleware, session, view, selectors, template — requests the
reviewer's inbox, the supervisor's queue board, one queue's task list and a task page N times each
and reports p50/p99. The task page is a real decision (submitted and routed through the services,
so it has its audit events) that the reviewer holds.
"""

import json
import time
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection
from django.test import Client
from django.urls import reverse

from orchestrator.bench._scratch import percentile, scratch_database
from orchestrator.models import Queue
from orchestrator.services.decisions import decision_route, decision_submit
from orchestrator.services.demo import demo_seed
from orchestrator.services.tasks import task_claim, task_claim_next

HELD_BY = 8
TARGET_MS = 200.0


def _fill(*, pending: int, completed: int, held: int, submitter_id: int, queue_id: int, explanation: Any) -> None:
    """Decisions and tasks in SQL: pending (ready, some with SLA due or past), completed in the last
    day, and held by the bench reviewers. Payload and explanation are of realistic size."""
    payload = {"applicant_id": "A-1", "amount": 25000, "income": 64000, "term_months": 36, "purpose": "car"}
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO orchestrator_decision (id, flow, idempotency_key, submitted_by_id, model_name, model_version,
                output, confidence, payload, payload_sha256, risk, excluded_reviewers, status, route, explanation,
                outcome, created_at, updated_at)
            SELECT gen_random_uuid(), 'loan_approval', 'bench-ui-' || g, %s, 'credit-gbm', '7',
                '{"label": "approve"}', random() * 0.9, %s::jsonb, '', '{"country": "DE"}', '[]', 'in_review',
                'review', %s::jsonb, '', now(), now()
            FROM generate_series(1, %s) AS g
            """,
            [submitter_id, json.dumps(payload), json.dumps(explanation), pending + completed + held],
        )
        cursor.execute(
            """
            WITH numbered AS (
                SELECT id, row_number() OVER () AS n FROM orchestrator_decision WHERE idempotency_key LIKE 'bench-ui-%%'
            )
            INSERT INTO orchestrator_reviewtask (id, decision_id, kind, queue_id, state, suspended_from, priority,
                escalation_level, tier, required_reviewers, step, created_at, due_at, completed_at, claimed_by_id,
                claimed_at, lease_expires_at)
            SELECT gen_random_uuid(), d.id, 'review', %(queue)s,
                CASE WHEN d.n <= %(pending)s THEN 'ready'
                     WHEN d.n <= %(pending)s + %(completed)s THEN 'completed' ELSE 'reserved' END,
                '', (random() * 3)::int, (random() < 0.01)::int, 'medium', 1, '',
                now() - (random() * interval '2 days'),
                now() + (random() * interval '9 hours') - interval '1 hour',
                CASE WHEN d.n > %(pending)s AND d.n <= %(pending)s + %(completed)s
                     THEN now() - (random() * interval '24 hours') END,
                CASE WHEN d.n > %(pending)s + %(completed)s
                     THEN (SELECT id FROM auth_user WHERE username = 'bench-reviewer-' || (d.n %% %(held_by)s)) END,
                CASE WHEN d.n > %(pending)s + %(completed)s THEN now() END,
                CASE WHEN d.n > %(pending)s + %(completed)s THEN now() + interval '15 minutes' END
            FROM numbered d
            """,
            {"queue": queue_id, "pending": pending, "completed": completed, "held_by": HELD_BY},
        )
        cursor.execute("ANALYZE")


def _measure(client: Client, url: str, requests: int) -> list[float]:
    for _ in range(5):  # warm-up: plans, template caches, the session
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
    timings = []
    for _ in range(requests):
        started = time.perf_counter()
        response = client.get(url)
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    return timings


def run(options: dict[str, Any]) -> dict[str, Any]:
    out = options["stdout"]
    scale = float(options.get("scale", 1.0))
    pending = max(1000, int(100_000 * scale))
    completed = max(200, int(5_000 * scale))
    held = max(HELD_BY, int(40 * scale))
    requests = max(30, int(200 * min(1.0, scale * 4)))
    with scratch_database("handrail_bench_ui"):
        demo_seed()
        users = get_user_model()
        reviewer = users.objects.get(username="reviewer")
        supervisor = users.objects.get(username="supervisor")
        submitter = users.objects.get(username="demo-model")
        queue = Queue.objects.get(slug="underwriting")
        group = Group.objects.get(name="reviewers")
        for i in range(HELD_BY):
            bench_user = users.objects.create_user(f"bench-reviewer-{i}", password=None)
            bench_user.groups.add(group)
            queue.members.add(bench_user)

        # The task page's subject: a real decision through the services (with its audit events).
        decision, _ = decision_submit(
            submitted_by=submitter,
            flow="loan_approval",
            idempotency_key="bench-ui-page",
            model_name="credit-gbm",
            model_version="7",
            output={"label": "approve", "limit": 25000},
            confidence=0.42,
            payload={"applicant_id": "A-1042", "amount": 25000, "income": 64000, "term_months": 36},
            risk={"country": "DE", "segment": "retail"},
        )
        routed = decision_route(decision_id=str(decision.id))
        decision.refresh_from_db()
        started = time.monotonic()
        _fill(
            pending=pending,
            completed=completed,
            held=held,
            submitter_id=submitter.pk,
            queue_id=queue.pk,
            explanation=decision.explanation,
        )
        out.write(
            f"filled {pending:,} pending, {completed:,} completed and {held} held tasks "
            f"in {time.monotonic() - started:.1f}s"
        )
        task_claim(task_id=routed.task_id, user=reviewer)
        assert task_claim_next(queue_slug="underwriting", user=reviewer) is not None

        as_reviewer = Client(SERVER_NAME="localhost")
        as_reviewer.force_login(reviewer)
        as_supervisor = Client(SERVER_NAME="localhost")
        as_supervisor.force_login(supervisor)
        pages = {
            "inbox": (as_reviewer, reverse("review_ui:inbox")),
            "board": (as_supervisor, reverse("review_ui:board")),
            "queue": (as_supervisor, reverse("review_ui:queue_board", args=["underwriting"])),
            "task": (as_reviewer, reverse("review_ui:task_detail", args=[routed.task_id])),
        }
        figures: dict[str, Any] = {}
        for name, (client, url) in pages.items():
            timings = _measure(client, url, requests)
            figures[f"{name}_p50_ms"] = round(percentile(timings, 50), 2)
            figures[f"{name}_p99_ms"] = round(percentile(timings, 99), 2)
            out.write(f"{name:6s} {url}: p50 {figures[f'{name}_p50_ms']} ms, p99 {figures[f'{name}_p99_ms']} ms")

    figures.update(
        pending_tasks=pending,
        completed_tasks=completed,
        held_tasks=held,
        requests_per_page=requests,
        target_ms=TARGET_MS,
        within_target=all(v < TARGET_MS for k, v in figures.items() if k.endswith("_p99_ms")),
    )
    return figures

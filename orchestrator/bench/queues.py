"""`bench queues`: claim throughput and latency on a deep backlog, next to a raw SKIP LOCKED loop.

1,000,000 ready tasks (at --scale 1) across 20 queues; two claimers in parallel processes. Each claim
goes through `task_claim_next` (membership, four-eyes exclusions, WIP, audit event, one
transaction); the claimed task is then closed outside the timing so the next claim is a fresh one.
In the same run, the raw limit: the bare `UPDATE … WHERE id = (SELECT … FOR UPDATE SKIP LOCKED
LIMIT 1)` loop on the same table and index, with the same concurrency, in interleaved rounds.
"""

import random
import time
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection

from orchestrator.bench._scratch import forked, percentile, scratch_database
from orchestrator.models import Queue
from orchestrator.services.demo import demo_seed
from orchestrator.services.tasks import task_claim_next

QUEUES = 20
CLAIMERS = 2
ROUNDS = 5


def fill_ready_tasks(*, total: int, submitter_id: int, queue_ids: list[int], key_prefix: str = "bench-") -> None:
    """Generate `total` decisions, each with a ready task, spread over the queues, in SQL (fast); then
    ANALYZE so the planner sees the volume. Also used by the claim-plan test."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            WITH d AS (
                INSERT INTO orchestrator_decision (id, flow, idempotency_key, submitted_by_id, model_name,
                    model_version, output, confidence, payload, payload_sha256, risk, excluded_reviewers, status,
                    route, explanation, outcome, created_at, updated_at)
                SELECT gen_random_uuid(), 'loan_approval', %s || g, %s, 'm', '1', '{"label": "approve"}', 0.5,
                    '{}', '', '{}', '[]', 'in_review', 'review', '{}', '', now(), now()
                FROM generate_series(1, %s) AS g RETURNING id
            )
            INSERT INTO orchestrator_reviewtask (id, decision_id, kind, queue_id, state, suspended_from, priority,
                escalation_level, tier, required_reviewers, step, created_at)
            SELECT gen_random_uuid(), d.id, 'review', (%s::bigint[])[1 + (row_number() OVER () %% %s)], 'ready', '',
                (random() * 3)::int, 0, '', 1, '', now() - (random() * interval '2 days')
            FROM d
            """,
            [key_prefix, submitter_id, total, queue_ids, len(queue_ids)],
        )
        cursor.execute("ANALYZE")


RAW_CLAIM = """
UPDATE orchestrator_reviewtask SET state = 'reserved', claimed_by_id = %s, claimed_at = now(),
    lease_expires_at = now() + interval '15 minutes'
WHERE id = (
    SELECT id FROM orchestrator_reviewtask WHERE queue_id = %s AND state IN ('ready', 'escalated')
    ORDER BY escalation_level DESC, priority DESC, due_at ASC NULLS LAST, created_at
    FOR UPDATE SKIP LOCKED LIMIT 1
) RETURNING id
"""
CLOSE = "UPDATE orchestrator_reviewtask SET state = 'completed', completed_at = now() WHERE id = %s"


def _run_claimers(seconds: float, claim: Any) -> tuple[int, list[float]]:
    """Run CLAIMERS forked processes (like web workers) claiming for `seconds`; gather latencies."""

    def loop(index: int) -> list[float]:
        rng = random.Random(index)
        latencies: list[float] = []
        stop_at = time.monotonic() + seconds
        while time.monotonic() < stop_at:
            started = time.perf_counter()
            task_id = claim(index, rng)
            latencies.append((time.perf_counter() - started) * 1000)
            if task_id is not None:
                with connection.cursor() as cursor:
                    cursor.execute(CLOSE, [task_id])
        return latencies

    merged = [x for latencies in forked(CLAIMERS, loop) for x in latencies]
    return len(merged), merged


def run(options: dict[str, Any]) -> dict[str, Any]:
    out = options["stdout"]
    scale = options["scale"]
    total = max(1000, int(1_000_000 * scale))
    seconds = max(3.0, 15.0 * min(1.0, scale * 4))
    with scratch_database("handrail_bench_queues"):
        demo_seed()
        reviewers = []
        group = Group.objects.get(name="reviewers")
        for i in range(CLAIMERS):
            user = get_user_model().objects.create_user(f"bench-reviewer-{i}", password=None)
            user.groups.add(group)
            reviewers.append(user)
        queues = []
        for i in range(QUEUES):
            queue = Queue.objects.create(slug=f"bench-{i:02d}", name=f"Bench {i}")
            queue.members.add(*reviewers)
            queues.append(queue)
        slugs = [q.slug for q in queues]
        queue_ids = [q.pk for q in queues]
        started = time.monotonic()
        fill_ready_tasks(
            total=total, submitter_id=get_user_model().objects.get(username="demo-model").pk, queue_ids=queue_ids
        )
        out.write(f"filled {total:,} ready tasks across {QUEUES} queues in {time.monotonic() - started:.1f}s")

        def service_claim(index: int, rng: random.Random) -> Any:
            task = task_claim_next(queue_slug=rng.choice(slugs), user=reviewers[index])
            return task.pk if task else None

        def raw_claim(index: int, rng: random.Random) -> Any:
            with connection.cursor() as cursor:
                cursor.execute(RAW_CLAIM, [reviewers[index].pk, rng.choice(queue_ids)])
                row = cursor.fetchone()
            return row[0] if row else None

        _run_claimers(1.0, service_claim)  # warm-up: plans, caches, connections
        _run_claimers(1.0, raw_claim)
        # Interleave short rounds of each side so both see the same (shared, noisy) machine.
        claims, raw_claims = 0, 0
        latencies: list[float] = []
        raw_latencies: list[float] = []
        for _ in range(ROUNDS):
            n, lat = _run_claimers(seconds / ROUNDS, service_claim)
            claims, latencies = claims + n, latencies + lat
            n, lat = _run_claimers(seconds / ROUNDS, raw_claim)
            raw_claims, raw_latencies = raw_claims + n, raw_latencies + lat

    figures = {
        "claims_per_s": round(claims / seconds, 1),
        "claim_p50_ms": round(percentile(latencies, 50), 2),
        "claim_p99_ms": round(percentile(latencies, 99), 2),
        "raw_claims_per_s": round(raw_claims / seconds, 1),
        "raw_claim_p99_ms": round(percentile(raw_latencies, 99), 2),
        "ratio": round(claims / raw_claims, 3) if raw_claims else None,
        "tasks": total,
        "queues": QUEUES,
        "claimers": CLAIMERS,
        "seconds_per_side": seconds,
        "rounds": ROUNDS,
    }
    out.write(
        f"task_claim_next: {figures['claims_per_s']}/s, p50 {figures['claim_p50_ms']} ms, "
        f"p99 {figures['claim_p99_ms']} ms"
    )
    out.write(f"raw SKIP LOCKED loop: {figures['raw_claims_per_s']}/s, p99 {figures['raw_claim_p99_ms']} ms")
    out.write(f"ratio service/raw: {figures['ratio']}")
    return figures

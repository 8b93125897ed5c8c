"""`bench decisions`: decisions per second through the whole path, next to Temporal's own floor.

Side A: confident decisions submitted through `decision_submit` (the API's service) by concurrent
clients; each commits its row, audit event and outbox row, the relay starts its workflow, the worker
routes it (local activity: policy, gates, audit) and finalizes it (local activity, audit). Latency
is from the decision's commit to its completion, both stamped by the database rows.
Side B, in the same run and on the same server and worker: a two-step workflow of no-op local
activities, started and awaited by as many concurrent clients — what Temporal alone costs.
Uses TEMPORAL_ADDRESS when set, else starts a dev server (with its SQLite file in a temp folder).
"""

import asyncio
import itertools
import os
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from temporalio import activity
from temporalio.client import Client

from config import embedded
from orchestrator.bench._scratch import percentile, scratch_database
from orchestrator.models import Decision, DecisionStatus
from orchestrator.services.decisions import decision_submit
from orchestrator.services.demo import demo_seed
from orchestrator.temporal.client import gateway
from orchestrator.temporal.inprocess import WorkerThread
from workflows.baseline import BASELINE_WORKFLOW, NOOP_ACTIVITY, TwoStepWorkflow

CONCURRENCY = 20


@activity.defn(name=NOOP_ACTIVITY)
def noop(key: str) -> str:
    return key


def _submit(submitter: Any, key: str) -> Any:
    """One confident loan decision through the intake service (what the API calls)."""
    decision, _ = decision_submit(
        submitted_by=submitter,
        flow="loan_approval",
        idempotency_key=key,
        model_name="bench",
        model_version="1",
        output={"label": "approve"},
        confidence=0.99,
        payload={"amount": 1000, "income": 90000},
        risk={},
    )
    return decision


def _side_a(total: int, submitter: Any, out: Any) -> dict[str, Any]:
    keys = itertools.count()
    lock = threading.Lock()

    def submit_some(count: int) -> None:
        try:
            for _ in range(count):
                with lock:
                    key = next(keys)
                _submit(submitter, f"bench-{key}")
        finally:
            connection.close()

    started = time.monotonic()
    per_client = total // CONCURRENCY
    threads = [threading.Thread(target=submit_some, args=(per_client,)) for _ in range(CONCURRENCY)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    submitted = per_client * CONCURRENCY
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        done = Decision.objects.filter(status=DecisionStatus.COMPLETED, idempotency_key__startswith="bench-").count()
        if done >= submitted:
            break
        time.sleep(0.05)
    elapsed = time.monotonic() - started
    rows = list(
        Decision.objects.filter(status=DecisionStatus.COMPLETED, idempotency_key__startswith="bench-").values_list(
            "created_at", "completed_at"
        )
    )
    latencies = [(c - s).total_seconds() * 1000 for s, c in rows if c]
    out.write(f"side A: {len(rows)}/{submitted} decisions completed in {elapsed:.1f}s")
    return {"count": len(rows), "seconds": elapsed, "latencies": latencies}


def _one_at_a_time(count: int, submitter: Any) -> list[float]:
    """Latency of a lone decision: submit, wait for completion, then the next (no queueing)."""
    latencies = []
    for i in range(count):
        began = time.perf_counter()
        decision = _submit(submitter, f"solo-{i}")
        while not Decision.objects.filter(pk=decision.pk, status=DecisionStatus.COMPLETED).exists():
            time.sleep(0.005)
        latencies.append((time.perf_counter() - began) * 1000)
    return latencies


def _side_b(total: int, address: str, task_queue: str, out: Any) -> dict[str, Any]:
    async def main() -> dict[str, Any]:
        client = await Client.connect(address)
        latencies: list[float] = []
        keys = iter(range(total))

        async def one_client() -> None:
            for key in keys:
                began = time.perf_counter()
                await client.execute_workflow(
                    BASELINE_WORKFLOW, f"k{key}", id=f"bench-{uuid.uuid4()}", task_queue=task_queue, result_type=str
                )
                latencies.append((time.perf_counter() - began) * 1000)

        started = time.monotonic()
        await asyncio.gather(*(one_client() for _ in range(CONCURRENCY)))
        return {"count": len(latencies), "seconds": time.monotonic() - started, "latencies": latencies}

    result = asyncio.run(main())
    out.write(f"side B: {result['count']} two-step workflows in {result['seconds']:.1f}s")
    return result


def run(options: dict[str, Any]) -> dict[str, Any]:
    out = options["stdout"]
    total = max(CONCURRENCY, int(500 * options["scale"]) // CONCURRENCY * CONCURRENCY)
    with tempfile.TemporaryDirectory(prefix="handrail-bench-") as home:
        server = None
        address = os.environ.get("TEMPORAL_ADDRESS")
        if not address:
            server = embedded.start_temporal(Path(home), embedded.free_port(), embedded.free_port(), headless=True)
            address = server.address
        task_queue = f"bench-{uuid.uuid4().hex[:8]}"
        saved = settings.TEMPORAL_ADDRESS, settings.TEMPORAL_TASK_QUEUE
        settings.TEMPORAL_ADDRESS, settings.TEMPORAL_TASK_QUEUE = address, task_queue
        gateway.reset()
        worker = WorkerThread(address=address, task_queue=task_queue, workflows=[TwoStepWorkflow], activities=[noop])
        try:
            with scratch_database("handrail_bench_decisions"):
                demo_seed()
                submitter = get_user_model().objects.get(username="demo-model")
                worker.start()
                solo = _one_at_a_time(20, submitter)
                out.write(f"one decision at a time: p50 {percentile(solo, 50):.0f} ms")
                a = _side_a(total, submitter, out)
                b = _side_b(total, address, task_queue, out)
                worker.stop()
        finally:
            settings.TEMPORAL_ADDRESS, settings.TEMPORAL_TASK_QUEUE = saved
            gateway.reset()
            if server is not None:
                server.stop()
    figures = {
        "decisions_per_s": round(a["count"] / a["seconds"], 1),
        "single_decision_p50_ms": round(percentile(solo, 50), 1),
        "decision_p50_ms": round(percentile(a["latencies"], 50), 1),
        "decision_p99_ms": round(percentile(a["latencies"], 99), 1),
        "temporal_two_step_per_s": round(b["count"] / b["seconds"], 1),
        "temporal_two_step_p50_ms": round(percentile(b["latencies"], 50), 1),
        "ratio": round((a["count"] / a["seconds"]) / (b["count"] / b["seconds"]), 3),
        "decisions": a["count"],
        "concurrency": CONCURRENCY,
        "temporal": "configured"
        if os.environ.get("TEMPORAL_ADDRESS")
        else "dev server, transferProcessorMaxPollRPS=1000",
    }
    out.write(
        f"decisions: {figures['decisions_per_s']}/s (p50 {figures['decision_p50_ms']} ms, "
        f"p99 {figures['decision_p99_ms']} ms); Temporal two-step floor: {figures['temporal_two_step_per_s']}/s; "
        f"ratio {figures['ratio']}"
    )
    return figures

"""`bench gates`: in-process gate evaluations per second, and a backtest over 100,000 stored decisions.

Evaluations: a 10-gate policy (3 CEL rule gates, 1 custom gate, 6 confidence gates with labels,
class scores and nested AND/OR) plus one CEL tier rule, on facts that make every gate run (the last
gate decides), in one thread: one core. Backtest: 100,000 decisions written with COPY into a scratch
database (created, migrated and dropped here), then `policy_backtest` over all of them, timed end
to end (query, JSON decoding, evaluation, aggregation).
"""

import json
import random
import time
import uuid
from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone

from orchestrator.bench._scratch import scratch_database
from orchestrator.gates import DecisionFacts, evaluate, parse_spec
from orchestrator.models import Decision
from orchestrator.services.backtest import policy_backtest

BENCH_POLICY: dict[str, Any] = {
    "fields": {
        "payload.amount": {"type": "number", "default": 0},
        "payload.income": {"type": "number", "default": 0},
        "risk.flags": {"type": "list", "default": []},
        "risk.country": {"type": "string", "default": ""},
    },
    "queue": "bench",
    "tiers": [
        {"name": "low", "qa": {"rate": 0.02, "buckets": [{"from": 0.9, "to": 0.95, "rate": 0.1}]}},
        {"name": "high", "priority": 5, "reviewers": 2, "sla_seconds": 3600, "qa": {"rate": 0.1}},
    ],
    "tier_rules": [{"tier": "high", "when": "payload.amount > 100000"}],
    "gates": [
        {"name": "fraud_flag", "type": "rule", "when": "'fraud' in risk.flags", "route": "auto_reject"},
        {
            "name": "debt_to_income",
            "type": "rule",
            "when": "payload.income > 0 && payload.amount > 0.6 * payload.income",
            "route": "review",
        },
        {
            "name": "foreign_large",
            "type": "rule",
            "when": "risk.country != 'DE' && payload.amount > 50000",
            "route": "review",
        },
        {"name": "watchlist", "type": "custom", "function": "watchlist", "route": "hold"},
        {
            "name": "decline_needs_more",
            "type": "confidence",
            "when": {"label": "decline", "below": 0.97},
            "route": "review",
        },
        {
            "name": "high_needs_more",
            "type": "confidence",
            "tiers": ["high"],
            "when": {"below": 0.97},
            "route": "review",
        },
        {
            "name": "fraud_score",
            "type": "confidence",
            "when": {"score_of": "fraud", "at_least": 0.5},
            "route": "review",
        },
        {"name": "hopeless", "type": "confidence", "when": {"below": 0.05}, "route": "auto_reject"},
        {
            "name": "very_sure",
            "type": "confidence",
            "when": {
                "any": [
                    {"all": [{"label": "approve"}, {"at_least": 0.999}]},
                    {"all": [{"label": "refer", "at_least": 0.99}, {"not": {"score_of": "fraud", "at_least": 0.1}}]},
                ]
            },
            "route": "auto_approve",
        },
        {
            "name": "confidence",
            "type": "confidence",
            "when": {"at_least": 0.9},
            "route": "auto_approve",
            "otherwise": "review",
        },
    ],
    "hold": {"queue": "bench", "priority": 20},
}


def _facts(rng: random.Random, n: int) -> list[DecisionFacts]:
    out = []
    for _ in range(n):
        amount = rng.randint(500, 40000)
        out.append(
            DecisionFacts(
                confidence=rng.uniform(0.5, 0.998),
                output={"label": "approve", "scores": {"approve": 0.9, "fraud": rng.uniform(0.0, 0.3)}},
                payload={"amount": amount, "income": amount * rng.uniform(2.0, 5.0)},
                risk={"country": "DE", "flags": []},
                decision_id=str(uuid.UUID(int=rng.getrandbits(128))),
                custom={"watchlist": False},
            )
        )
    return out


def _evals_per_second(count: int, out: Any) -> float:
    spec = parse_spec(BENCH_POLICY, custom_gates={"watchlist"})
    facts = _facts(random.Random(7), 1000)
    for f in facts:  # warm up; and check the workload: every gate is evaluated
        route = evaluate(spec, f, policy_version=1)
        assert len(route.explanation["gates"]) == 10, route.explanation
    best = 0.0
    for _ in range(3):
        started = time.perf_counter()
        for i in range(count):
            evaluate(spec, facts[i % 1000], policy_version=1)
        rate = count / (time.perf_counter() - started)
        best = max(best, rate)
        out.write(f"  gates: {count} evaluations at {rate:,.0f}/s")
    return best


def _copy_history(count: int, out: Any) -> None:
    """Write `count` decisions with COPY: a third reviewed (with an outcome), the rest auto-approved."""
    user = get_user_model().objects.create(username="bench-model")
    rng = random.Random(11)
    now = timezone.now()
    fields = [f for f in Decision._meta.concrete_fields]
    columns = ", ".join(f'"{f.column}"' for f in fields)
    started = time.perf_counter()
    with connection.cursor() as cursor:
        with cursor.copy(f"COPY {Decision._meta.db_table} ({columns}) FROM STDIN") as copy:
            for i in range(count):
                confidence = rng.uniform(0.3, 1.0)
                reviewed = confidence < 0.9
                agreed = rng.random() < confidence
                amount = rng.randint(500, 200000)
                values = {
                    "id": uuid.uuid4(),
                    "flow": "loan_approval",
                    "idempotency_key": f"bench-{i}",
                    "submitted_by_id": user.pk,
                    "model_name": "credit-gbm",
                    "model_version": "7",
                    "output": {"label": "approve", "scores": {"fraud": rng.uniform(0, 0.2)}},
                    "confidence": confidence,
                    "payload": {"amount": amount, "income": amount * rng.uniform(1.0, 5.0), "applicant": f"A-{i}"},
                    "payload_sha256": "0" * 64,
                    "risk": {"country": "DE" if rng.random() < 0.9 else "FR", "flags": []},
                    "status": "completed",
                    "route": "review" if reviewed else "auto_approve",
                    "outcome": ("approved" if agreed else "rejected") if reviewed else "approved",
                    "created_at": now - timedelta(seconds=count - i),
                    "updated_at": now,
                    "completed_at": now,
                }
                row = []
                for f in fields:
                    value = values[f.attname] if f.attname in values else f.get_default()
                    if f.get_internal_type() == "JSONField" and value is not None:
                        value = json.dumps(value)
                    row.append(value)
                copy.write_row(row)
    out.write(f"  history: {count:,} decisions written with COPY in {time.perf_counter() - started:.1f} s")


def run(options: dict[str, Any]) -> dict[str, Any]:
    out = options["stdout"]
    scale = float(options.get("scale", 1.0))
    evals = max(1000, int(100_000 * scale))
    history = max(1000, int(100_000 * scale))

    out.write(f"gates: 10-gate policy (3 CEL rule gates + 1 CEL tier rule), {evals:,} evaluations, one thread")
    evals_per_s = _evals_per_second(evals, out)
    out.write(f"gates: best {evals_per_s:,.0f} evaluations/s (target >= 20,000/s)")

    with scratch_database("bench_gates"):
        _copy_history(history, out)
        draft = {"queue": "underwriting", "confidence_threshold": 0.8}
        spec = parse_spec(draft)
        started = time.perf_counter()
        report = policy_backtest(flow="loan_approval", spec=draft, compiled=spec)
        backtest_s = time.perf_counter() - started
        assert report["decisions"] == history, report["decisions"]
        out.write(
            f"backtest: {history:,} decisions in {backtest_s:.2f} s ({history / backtest_s:,.0f}/s); automation "
            f"{report['automation_rate']:.3f}, auto-decision error {report['auto_decisions']['error_rate']:.3f}"
        )
    key = "backtest_100k_s" if history == 100_000 else f"backtest_{history}_s"
    return {"evals_per_s": round(evals_per_s), key: round(backtest_s, 2)}

"""The math of backtests and calibration, pure: rows in, reports out (the services fetch the rows).

Ground truth is what people decided: a decision a reviewer settled has a human outcome, and the
model "agreed with people" when that outcome is `approved` (the model's output stood unchanged).
"""

import bisect
import math
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

from orchestrator.gates.evaluate import DecisionFacts, evaluate
from orchestrator.gates.spec import AUTO_KINDS, PolicySpec

HUMAN_ROUTES = frozenset({"review", "hold"})
# Auto-decided under the policy, but people decided otherwise when they saw it.
DISAGREES = {"auto_approve": frozenset({"rejected", "modified"}), "auto_reject": frozenset({"approved", "modified"})}


def z_for(level: float) -> float:
    """The one-sided normal quantile for a confidence level (0.95 -> 1.645)."""
    return NormalDist().inv_cdf(level)


def wilson_upper(errors: int, n: int, z: float) -> float:
    """Upper end of the Wilson score interval for a proportion errors/n (1.0 when n is 0)."""
    if n <= 0:
        return 1.0
    p = errors / n
    z2 = z * z
    centre = p + z2 / (2 * n)
    spread = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    return min(1.0, (centre + spread) / (1 + z2 / n))


@dataclass(frozen=True)
class HistoryRow:
    """One stored decision as the backtest sees it."""

    id: str
    confidence: float
    output: Any
    payload: Any
    risk: Any
    route: str  # the route it actually took
    outcome: str  # approved | rejected | modified | "" (not settled)


def human_outcome(row: HistoryRow) -> str | None:
    """What people decided about this decision, if people decided it."""
    return row.outcome if row.route in HUMAN_ROUTES and row.outcome else None


def backtest(
    spec: PolicySpec,
    rows: Iterable[HistoryRow],
    *,
    policy_version: int | str | None = "draft",
    custom: Callable[[HistoryRow], tuple[dict[str, bool], dict[str, str]]] | None = None,
    z: float = 1.645,
) -> dict[str, Any]:
    """Route every row under `spec` and count: automation, review volume per queue and tier, and the
    estimated error of the auto-decisions (against the human outcome where people decided)."""
    routes: Counter[str] = Counter()
    by_queue: Counter[str] = Counter()
    by_tier: Counter[str] = Counter()
    by_queue_tier: Counter[tuple[str, str]] = Counter()
    tiers: Counter[str] = Counter()
    fired: Counter[str] = Counter()
    moved: Counter[str] = Counter()
    qa_sampled = 0
    labelled = disagreements = 0
    total = 0
    for row in rows:
        total += 1
        results, errors = custom(row) if custom else ({}, {})
        route = evaluate(
            spec,
            DecisionFacts(
                confidence=row.confidence,
                output=row.output,
                payload=row.payload or {},
                risk=row.risk or {},
                decision_id=row.id,
                custom=results,
                custom_errors=errors,
            ),
            policy_version=policy_version,
        )
        kind = route.kind
        routes[kind] += 1
        tiers[route.tier] += 1
        fired[route.explanation["fired"]] += 1
        was_auto = row.route in AUTO_KINDS
        if kind in AUTO_KINDS:
            qa_sampled += route.qa_sample
            if not was_auto and row.route:
                moved["review_to_auto"] += 1
            truth = human_outcome(row)
            if truth is not None:
                labelled += 1
                disagreements += truth in DISAGREES[kind]
        else:
            by_queue[route.queue or ""] += 1
            by_tier[route.tier] += 1
            by_queue_tier[(route.queue or "", route.tier)] += 1
            if was_auto:
                moved["auto_to_review"] += 1
    auto = routes["auto_approve"] + routes["auto_reject"]
    return {
        "decisions": total,
        "routes": {kind: routes.get(kind, 0) for kind in ("auto_approve", "auto_reject", "review", "hold")},
        "automation_rate": auto / total if total else 0.0,
        "review_volume": {
            "total": total - auto,
            "by_queue": dict(sorted(by_queue.items())),
            "by_tier": dict(sorted(by_tier.items())),
            "by_queue_and_tier": [
                {"queue": queue, "tier": tier, "count": count} for (queue, tier), count in sorted(by_queue_tier.items())
            ],
        },
        "tiers": dict(sorted(tiers.items())),
        "fired": dict(sorted(fired.items())),
        "qa_sampled": qa_sampled,
        "changes": {"auto_to_review": moved["auto_to_review"], "review_to_auto": moved["review_to_auto"]},
        "auto_decisions": {
            "count": auto,
            "with_human_outcome": labelled,
            "disagreements": disagreements,
            "error_rate": disagreements / labelled if labelled else None,
            "error_upper_bound": wilson_upper(disagreements, labelled, z) if labelled else None,
            "note": "error is measured on auto-decisions that people had decided (reviewed in the past)",
        },
    }


def calibration(
    samples: Iterable[tuple[float, bool]],
    *,
    bins: int = 10,
    target_error: float = 0.02,
    level: float = 0.95,
    min_support: int = 30,
    step: float = 0.01,
) -> dict[str, Any]:
    """Reliability of (confidence, agreed-with-people) pairs and the lowest threshold whose auto-decisions'
    error stays under `target_error` at the one-sided Wilson bound of `level`."""
    pairs = sorted((min(max(float(c), 0.0), 1.0), bool(a)) for c, a in samples)
    n = len(pairs)
    table = []
    ece = 0.0
    brier = sum((c - (1.0 if a else 0.0)) ** 2 for c, a in pairs) / n if n else None
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        members = [(c, a) for c, a in pairs if lo <= c < hi or (b == bins - 1 and c == 1.0)]
        count = len(members)
        mean_conf: float | None = None
        agreement: float | None = None
        if count:
            mean_conf = sum(c for c, _ in members) / count
            agreement = sum(a for _, a in members) / count
            ece += count / n * abs(agreement - mean_conf)
        table.append(
            {
                "from": round(lo, 6),
                "to": round(hi, 6),
                "count": count,
                "mean_confidence": mean_conf,
                "agreement": agreement,
            }
        )

    z = z_for(level)
    confidences = [c for c, _ in pairs]
    # errors_from[i] = disagreements among pairs[i:]
    errors_from = [0] * (n + 1)
    for i in range(n - 1, -1, -1):
        errors_from[i] = errors_from[i + 1] + (0 if pairs[i][1] else 1)
    curve = []
    recommended = None
    steps = round(1 / step)
    for k in range(steps + 1):
        threshold = round(k * step, 10)
        i = bisect.bisect_left(confidences, threshold)
        support = n - i
        if support == 0:
            continue
        errs = errors_from[i]
        upper = wilson_upper(errs, support, z)
        point = {"threshold": threshold, "count": support, "errors": errs, "error_rate": errs / support, "upper": upper}
        curve.append(point)
        if recommended is None and support >= min_support and upper <= target_error:
            recommended = point
    return {
        "count": n,
        "ece": ece if n else None,
        "brier": brier,
        "buckets": table,
        "target_error": target_error,
        "level": level,
        "min_support": min_support,
        "recommended": recommended,
        "curve": curve,
    }

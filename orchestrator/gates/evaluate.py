"""Gate evaluation, shared by live routing, the reviewer's explanation and backtests."""

from dataclasses import dataclass, field
from typing import Any

from orchestrator.gates.spec import PolicySpec


@dataclass(frozen=True)
class DecisionFacts:
    """What the gates may look at: the model's output and confidence, payload and risk attributes."""

    confidence: float
    output: Any = None
    payload: dict[str, Any] = field(default_factory=dict)
    risk: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Route:
    kind: str  # auto_approve | auto_reject | review
    queue: str | None
    priority: int
    explanation: dict[str, Any]


def evaluate(spec: PolicySpec, facts: DecisionFacts, *, policy_version: int | None = None) -> Route:
    """Route a decision. The explanation names every gate evaluated, its inputs and which one fired."""
    confident = facts.confidence >= spec.confidence_threshold
    gate = {
        "gate": "confidence",
        "input": {"confidence": facts.confidence},
        "threshold": spec.confidence_threshold,
        "passed": confident,
    }
    if confident:
        kind, queue = "auto_approve", None
    elif spec.below_threshold == "auto_reject":
        kind, queue = "auto_reject", None
    else:
        kind, queue = "review", spec.queue
    explanation = {
        "policy_version": policy_version,
        "gates": [gate],
        "fired": "confidence",
        "route": kind,
        "summary": (
            f"confidence {facts.confidence:.3f} is at or above the threshold {spec.confidence_threshold:.3f}"
            if confident
            else f"confidence {facts.confidence:.3f} is below the threshold {spec.confidence_threshold:.3f}"
        ),
    }
    return Route(kind=kind, queue=queue, priority=spec.priority, explanation=explanation)

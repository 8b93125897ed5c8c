"""The policy spec: validated once, then evaluated many times."""

from dataclasses import dataclass
from typing import Any


class PolicySpecError(ValueError):
    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


@dataclass(frozen=True)
class PolicySpec:
    confidence_threshold: float
    queue: str
    priority: int = 0
    below_threshold: str = "review"  # what a low-confidence decision gets: "review" or "auto_reject"


def _number(raw: dict[str, Any], name: str, lo: float, hi: float) -> float:
    value = raw.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PolicySpecError(name, "must be a number")
    if not lo <= value <= hi:
        raise PolicySpecError(name, f"must be between {lo} and {hi}")
    return float(value)


def parse_spec(raw: dict[str, Any]) -> PolicySpec:
    """Validate a stored policy spec; raises PolicySpecError naming the field."""
    if not isinstance(raw, dict):
        raise PolicySpecError("spec", "must be an object")
    threshold = _number(raw, "confidence_threshold", 0.0, 1.0)
    queue = raw.get("queue")
    if not isinstance(queue, str) or not queue:
        raise PolicySpecError("queue", "must name a queue")
    priority = raw.get("priority", 0)
    if isinstance(priority, bool) or not isinstance(priority, int):
        raise PolicySpecError("priority", "must be an integer")
    below = raw.get("below_threshold", "review")
    if below not in {"review", "auto_reject"}:
        raise PolicySpecError("below_threshold", "must be 'review' or 'auto_reject'")
    return PolicySpec(confidence_threshold=threshold, queue=queue, priority=priority, below_threshold=below)

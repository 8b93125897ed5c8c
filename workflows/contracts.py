"""What crosses the Temporal boundary: one dataclass per workflow, activity and signal, and their names.

Names are written into workflow histories: never rename one that running workflows may still use.
"""

from dataclasses import dataclass, field
from typing import Any

DECISION_WORKFLOW = "decision"
ROUTE_ACTIVITY = "decision.route"
FINALIZE_ACTIVITY = "decision.finalize"
VERDICT_SIGNAL = "review.verdict"
STATUS_QUERY = "decision.status"

ROUTE_AUTO_APPROVE = "auto_approve"
ROUTE_AUTO_REJECT = "auto_reject"
ROUTE_REVIEW = "review"

VERDICT_OUTCOMES = {"approve": "approved", "reject": "rejected", "modify": "modified"}


@dataclass
class DecisionInput:
    decision_id: str


@dataclass
class RouteInput:
    decision_id: str


@dataclass
class RouteResult:
    route: str
    policy_version: int
    task_id: str | None = None
    queue: str | None = None
    required_reviewers: int = 1
    tier: str = ""
    sla_seconds: int | None = None
    escalation: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class VerdictSignal:
    """A committed review, delivered after commit. `review_id` makes a redelivery a no-op."""

    review_id: str
    task_id: str
    verdict: str
    reviewer: str
    output: Any = None


@dataclass
class FinalizeInput:
    decision_id: str
    outcome: str
    review_id: str | None = None
    final_output: Any = None
    use_model_output: bool = False


@dataclass
class DecisionResult:
    decision_id: str
    outcome: str
    route: str
    review_ids: list[str] = field(default_factory=list)

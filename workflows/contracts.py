"""What crosses the Temporal boundary: one dataclass per workflow, activity and signal, and their names.

Names are written into workflow histories: never rename one that running workflows may still use.
"""

from dataclasses import dataclass, field
from typing import Any

DECISION_WORKFLOW = "decision"
ROUTE_ACTIVITY = "decision.route"
FINALIZE_ACTIVITY = "decision.finalize"
ESCALATE_ACTIVITY = "review.escalate"
DEADLINE_ACTIVITY = "review.deadline"
VERDICT_UPDATE = "review.verdict"
CALLBACK_ACTIVITY = "decision.callback"
OUTCOME_CALLBACKS_PATCH = "outcome-callbacks"
CALLBACK_MAX_ATTEMPTS = 10  # Temporal retries a callback this many times (backoff 1 s .. 60 s), then gives up
STATUS_QUERY = "decision.status"
MODEL_ACTIVITY = "decision.model"
REVIEW_OPEN_ACTIVITY = "review.open"

ROUTE_AUTO_APPROVE = "auto_approve"
ROUTE_AUTO_REJECT = "auto_reject"
ROUTE_REVIEW = "review"

VERDICT_OUTCOMES = {"approve": "approved", "reject": "rejected", "modify": "modified"}


@dataclass
class ModelOptions:
    """How the workflow runs the flow's model step: each attempt's timeout and how many attempts."""

    timeout_seconds: float = 10.0
    max_attempts: int = 3


@dataclass
class DecisionInput:
    decision_id: str
    # Set when the client sent `inputs` rather than a finished decision: run the flow's model first.
    model: ModelOptions | None = None


@dataclass
class ModelInput:
    """Call the flow's model for this decision (`step` names the call in a multi-step workflow).

    `inputs`, when given, replaces the decision's stored inputs (e.g. a reviewed output fed to a
    second model); `max_attempts` lets the last attempt record a failure instead of raising.
    """

    decision_id: str
    step: str = "model"
    inputs: Any = None
    max_attempts: int = 3
    # Set by the workflow when every attempt failed without recording it (e.g. timed out): record only.
    give_up: str = ""


@dataclass
class ModelResult:
    ok: bool
    output: Any = None
    confidence: float | None = None
    error: str = ""


@dataclass
class ReviewOpenInput:
    """Open a review task for one step of a decision (the human-review helper of custom workflows)."""

    decision_id: str
    step: str
    queue: str
    reviewers: int = 1
    sla_seconds: int | None = None
    escalation: list[dict[str, Any]] = field(default_factory=list)
    timeout_outcome: str = "hold"
    priority: int = 0
    tier: str = ""


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
    submitter: str = ""
    # From the pinned policy's tier: what the final deadline does (reject | hold | approve), the task's
    # priority, and whether an auto-decided decision was drawn for a non-blocking QA review.
    timeout_outcome: str = ""
    priority: int = 0
    qa_sample: bool = False
    # Names of the outcome callbacks to run after finalize (the flow's and the pinned policy's).
    callbacks: list[str] = field(default_factory=list)


@dataclass
class VerdictInput:
    """The verdict that settles a decision's review, delivered after commit as a Temporal Update.

    `review_id` makes a redelivery a no-op. `task_id` is the review task the route created;
    `reviewers` are everyone whose verdicts settled it (all agreeing reviewers, or the reviewers and
    the adjudicator), so the workflow can re-check four-eyes and separation of duties.
    """

    review_id: str
    task_id: str
    verdict: str
    reviewer: str
    reviewers: list[str] = field(default_factory=list)
    output: Any = None


@dataclass
class FinalizeInput:
    decision_id: str
    outcome: str
    review_id: str | None = None
    final_output: Any = None
    use_model_output: bool = False
    reason: str = ""  # why no review settled it, e.g. "timeout"


@dataclass
class EscalateInput:
    """One step of the escalation chain, due now. `step` is the policy's step as pinned in the route."""

    decision_id: str
    task_id: str
    level: int
    step: dict[str, Any] = field(default_factory=dict)


@dataclass
class EscalateResult:
    applied: bool
    detail: str = ""


@dataclass
class DeadlineInput:
    """The final deadline passed with no settled verdict; `outcome` is the tier's timeout outcome."""

    decision_id: str
    task_id: str
    outcome: str


@dataclass
class DeadlineResult:
    # False when a verdict was committed first: the workflow then waits for its delivery instead.
    passed: bool
    state: str = ""


@dataclass
class DecisionResult:
    decision_id: str
    outcome: str
    route: str
    review_ids: list[str] = field(default_factory=list)


@dataclass
class CallbackInput:
    """Run one outcome callback of a finalized decision; the decision id is the idempotency key."""

    decision_id: str
    callback: str
    event: str = "decision.finalized"


@dataclass
class CallbackResult:
    delivered: bool
    status_code: int | None = None

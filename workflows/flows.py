"""The flow-definition API: a flow names a kind of decision, its schemas, model step, policy and review hints.

A flow is code (it ships with a deploy); its policy is data (Postgres, versioned) seeded from
`default_policy` the first time the flow is seen. Flows are registered by listing their dotted path
in the `HANDRAIL_FLOWS` setting; `orchestrator.flows` validates every one when the registry loads
(the worker loads it at start), so a bad flow fails before anything runs. docs/flows.md is the guide.

Nothing here runs inside a workflow: schemas, model callables and custom gates are used by the
Django side (intake, activities, routing). Values that name code may be given as the object or as its
dotted path (`"myapp.schemas.LoanInput"`); the registry imports paths and reports what does not import.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Callback:
    """An outcome callback, run after the decision is finalized by the `decision.callback` activity
    (a regular activity, retried by Temporal; the decision id is the idempotency key).

    Either `url`: a signed POST of the outcome (docs/notifications.md), or `activity`: the name of a
    function in `Flow.activities`, called with the outcome (a dict) inside that activity. A function
    must be idempotent per `decision_id`: it may run again after a failure.
    """

    name: str
    url: str = ""
    activity: str = ""


@dataclass(frozen=True)
class ModelStep:
    """The model a flow calls when a client sends `inputs` rather than a finished decision.

    Exactly one of `function` (a Python callable, or its dotted path) and `endpoint` (an HTTP URL).
    The callable gets the inputs (a dict) and returns `{"output": ..., "confidence": float}`; the
    endpoint gets `POST {"inputs": ...}` as JSON and answers the same object. Each attempt is bounded
    by `timeout_seconds`; a failed attempt is retried by Temporal with backoff up to `max_attempts`.
    When every attempt failed, the decision goes to people (never auto-decided) and the failure is
    audited.
    """

    name: str
    version: str = "1"
    function: Any = None
    endpoint: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    timeout_seconds: float = 10.0
    max_attempts: int = 3


@dataclass(frozen=True)
class Flow:
    """A kind of decision. `default_policy` is the first policy version, as a policy spec (docs/policies.md)."""

    name: str
    title: str
    description: str = ""
    default_policy: dict[str, Any] = field(default_factory=dict)
    queues: tuple[tuple[str, str], ...] = ()  # (slug, name) of the queues the default policy uses
    # A pydantic model the intake payload must satisfy (a 400 names the failing field, `payload.amount`).
    input_schema: Any = None
    # A pydantic model the model's output (at intake, from the model step, and a reviewer's corrected
    # output) must satisfy; None = any JSON.
    output_schema: Any = None
    # Custom gates a policy may name (`{"type": "custom", "function": name}` or `custom.<name>` in a rule):
    # plain functions of the decision's facts ({"confidence", "label", "output", "payload", "risk"}) -> bool,
    # called by routing outside the pure gate evaluation. Deterministic, fast, no I/O.
    custom_gates: dict[str, Callable[[Mapping[str, Any]], bool]] = field(default_factory=dict)
    # Outcome callbacks to the client system, and the custom activities they may name.
    callbacks: tuple[Callback, ...] = ()
    activities: dict[str, Callable[[Mapping[str, Any]], Any]] = field(default_factory=dict)
    # Optional: the model the decision workflow calls when the client sends `inputs`.
    model: ModelStep | None = None
    # Named further model steps a custom workflow runs with `run_model(step=name)` (see workflows/human.py).
    model_steps: Mapping[str, ModelStep] = field(default_factory=dict)
    # Rendering hints for the review page: a template that renders the payload (default
    # `review_ui/flows/<name>.html` when it exists) and payload fields shown first ("amount", "merchant.country").
    template: str = ""
    display_fields: tuple[str, ...] = ()
    # The Temporal workflow class (or its dotted path) that runs this flow's decisions; None = the
    # built-in DecisionWorkflow. It takes a `DecisionInput` and is registered with the worker automatically.
    workflow: Any = None
    # Queues that are blind: reviewers give their own judgement before they see the model's (seeded so).
    blind_queues: tuple[str, ...] = ()

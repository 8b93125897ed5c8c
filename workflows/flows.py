"""The flow-definition API: a flow names a kind of decision and its default policy.

A flow is code (it ships with a deploy); its policy is data (Postgres, versioned) seeded from
`default_policy` the first time the flow is seen.
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
class Flow:
    """A kind of decision. `default_policy` is the first policy version, as a policy spec."""

    name: str
    title: str
    description: str = ""
    default_policy: dict[str, Any] = field(default_factory=dict)
    queues: tuple[tuple[str, str], ...] = ()  # (slug, name) of the queues the default policy uses
    # A pydantic model the model's output (and a reviewer's corrected output) must satisfy; None = any JSON.
    output_schema: Any = None
    # Custom gates a policy may name (`{"type": "custom", "function": name}` or `custom.<name>` in a rule):
    # plain functions of the decision's facts ({"confidence", "label", "output", "payload", "risk"}) -> bool,
    # called by routing outside the pure gate evaluation. Deterministic, fast, no I/O.
    custom_gates: dict[str, Callable[[Mapping[str, Any]], bool]] = field(default_factory=dict)
    # Outcome callbacks to the client system, and the custom activities they may name.
    callbacks: tuple[Callback, ...] = ()
    activities: dict[str, Callable[[Mapping[str, Any]], Any]] = field(default_factory=dict)

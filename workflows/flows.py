"""The flow-definition API: a flow names a kind of decision and its default policy.

A flow is code (it ships with a deploy); its policy is data (Postgres, versioned) seeded from
`default_policy` the first time the flow is seen.
"""

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Flow:
    """A kind of decision. `default_policy` is the first policy version, as a policy spec."""

    name: str
    title: str
    description: str = ""
    default_policy: dict[str, Any] = field(default_factory=dict)
    queues: tuple[tuple[str, str], ...] = ()  # (slug, name) of the queues the default policy uses

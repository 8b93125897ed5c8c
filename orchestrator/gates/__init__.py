"""Pure gate evaluation: (policy spec, decision facts) -> Route + explanation. No Django, no I/O."""

from orchestrator.gates.evaluate import DecisionFacts, Route, evaluate
from orchestrator.gates.spec import PolicySpec, PolicySpecError, parse_spec

__all__ = ["DecisionFacts", "PolicySpec", "PolicySpecError", "Route", "evaluate", "parse_spec"]

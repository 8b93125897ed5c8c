"""Pure gate evaluation: (policy spec, decision facts) -> Route + explanation. No Django, no I/O.

`parse_spec` validates and compiles a spec (cached per version); `evaluate` routes one decision.
The CEL engine is imported only here (orchestrator/gates/cel.py), never in workflows/.
"""

from orchestrator.gates.evaluate import DecisionFacts, Route, evaluate
from orchestrator.gates.spec import PolicySpec, PolicySpecError, parse_spec

__all__ = ["DecisionFacts", "PolicySpec", "PolicySpecError", "Route", "evaluate", "parse_spec"]

"""Custom gates: Python functions a flow registers by name, run outside the pure evaluation.

Their results enter `evaluate` as facts; a function that raises is reported as an error, so the
evaluation sends the decision to the policy's fail-safe route instead of crashing the routing.
"""

from collections.abc import Callable, Mapping
from typing import Any


def custom_gate_facts(*, confidence: float, output: Any, payload: Any, risk: Any) -> dict[str, Any]:
    """What a custom gate receives: the decision's facts as plain JSON values."""
    label = output.get("label") if isinstance(output, Mapping) else output if isinstance(output, str) else None
    return {"confidence": confidence, "label": label, "output": output, "payload": payload, "risk": risk}


def run_custom_gates(
    functions: Mapping[str, Callable[[Mapping[str, Any]], bool]], needed: frozenset[str], facts: Mapping[str, Any]
) -> tuple[dict[str, bool], dict[str, str]]:
    results: dict[str, bool] = {}
    errors: dict[str, str] = {}
    for name in sorted(needed):
        function = functions.get(name)
        if function is None:
            errors[name] = "not registered by the flow"
            continue
        try:
            results[name] = bool(function(facts))
        except Exception as exc:  # user code: any failure means fail-closed, never a crashed routing
            errors[name] = f"{type(exc).__name__}: {exc}"
    return results, errors

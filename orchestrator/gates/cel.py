"""The one adapter over the CEL engine (`cel-expr-python`, a native module): compile, evaluate, explain errors.

Rules are compiled (parsed and type-checked against the declared variables) once per policy version;
evaluation never runs Python code from a rule. Nothing outside `orchestrator.gates` imports the engine.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cel_expr_python import cel

# Declared field types -> CEL types. "number" is dynamic so that `payload.amount > 1000` (an int
# literal against a JSON number) type-checks; the others are checked when the rule compiles.
FIELD_TYPES: dict[str, Any] = {
    "number": cel.Type.DYN,
    "double": cel.Type.DOUBLE,
    "int": cel.Type.INT,
    "string": cel.Type.STRING,
    "bool": cel.Type.BOOL,
    "list": cel.Type.List(cel.Type.DYN),
    "map": cel.Type.Map(cel.Type.STRING, cel.Type.DYN),
    "any": cel.Type.DYN,
}

_POSITION = re.compile(r"<input>:(\d+):(\d+): (.*)")
_UNDECLARED = re.compile(r"undeclared reference to '([^']*)'")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
_BOOL = cel.Type.BOOL
_DYN = cel.Type.DYN
_ERROR = cel.Type.ERROR


class RuleCompileError(ValueError):
    """A rule that does not parse, names an unknown field or is not a boolean expression."""

    def __init__(self, reason: str, *, line: int | None = None, column: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.line = line
        self.column = column


class RuleEvalError(RuntimeError):
    """A rule that failed on one decision's facts (a missing field, a type mismatch)."""


def _compile_error(message: str) -> RuleCompileError:
    match = _POSITION.search(message)
    if not match:
        return RuleCompileError(message.strip())
    reason = match.group(3).split("\n", 1)[0].strip()
    reason = reason.removesuffix("[INVALID_ARGUMENT]").replace(" (in container '')", "").strip()
    unknown = _UNDECLARED.match(reason)
    if unknown:
        reason = f"unknown field '{unknown.group(1)}' (declare it under fields, or fix the name)"
    return RuleCompileError(reason, line=int(match.group(1)), column=int(match.group(2)))


@dataclass(frozen=True)
class CompiledRule:
    """A compiled boolean expression and the declared variables its text refers to (for explanations)."""

    text: str
    inputs: tuple[str, ...]
    _expr: Any

    def evaluate(self, activation: Any) -> bool:
        value = self._expr.eval(activation)
        result = value.value()
        if result is True or result is False:
            return result
        if value.type() == _ERROR:
            raise RuleEvalError(str(result))
        raise RuleEvalError(f"the rule gave {result!r}, not true or false")


class RuleEnv:
    """Variables a policy's rules may name, with their CEL types. One per compiled policy version."""

    def __init__(self, variables: Mapping[str, Any]) -> None:
        self.names = frozenset(variables)
        self._env = cel.NewEnv(variables=dict(variables))

    def compile(self, text: str) -> CompiledRule:
        try:
            expr = self._env.compile(text)
        except RuntimeError as exc:
            raise _compile_error(str(exc)) from exc
        kind = expr.return_type()
        if not (kind == _BOOL or kind == _DYN):
            raise RuleCompileError(f"the rule must be true or false, not a {kind.name().lower()}", line=1, column=1)
        tokens = set(_IDENTIFIER.findall(text))
        inputs = tuple(
            sorted(name for name in self.names if any(t == name or t.startswith(name + ".") for t in tokens))
        )
        return CompiledRule(text=text, inputs=inputs, _expr=expr)

    def activation(self, data: Mapping[str, Any]) -> Any:
        """Bind one decision's values; build it once and evaluate every rule of the policy against it."""
        return self._env.Activation(dict(data))

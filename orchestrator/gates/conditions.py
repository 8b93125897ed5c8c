"""Confidence conditions compiled to closures once per policy version (the hot path of evaluation)."""

from collections.abc import Callable
from typing import Any

Check = Callable[[float, Any, Any], bool]  # (confidence, label, output) -> passed


class ScoreMissing(Exception):
    """A condition reads a class score the model's output does not carry."""


def score_value(output: Any, scores_field: str, name: str) -> float | None:
    """The class score `output[scores_field][name]` as a float; None when it is missing or not a number."""
    scores = output.get(scores_field) if isinstance(output, dict) else None
    value = scores.get(name) if isinstance(scores, dict) else None
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def score_reader(scores_field: str, name: str) -> Callable[[Any], float]:
    def read(output: Any) -> float:
        value = score_value(output, scores_field, name)
        if value is None:
            raise ScoreMissing(f"output.{scores_field}.{name} is missing or not a number")
        return value

    return read


def compile_leaf(
    label: str | None, score_of: str | None, at_least: float | None, below: float | None, scores_field: str
) -> Check:
    read = score_reader(scores_field, score_of) if score_of is not None else None
    lo = at_least if at_least is not None else float("-inf")
    hi = below if below is not None else float("inf")

    def check(confidence: float, got: Any, output: Any) -> bool:
        if label is not None and got != label:
            return False
        value = read(output) if read is not None else confidence
        return lo <= value < hi

    return check


def compile_combine(op: str, parts: list[Check]) -> Check:
    if op == "not":
        inner = parts[0]
        return lambda c, label, output: not inner(c, label, output)
    if op == "all":
        return lambda c, label, output: all(part(c, label, output) for part in parts)
    return lambda c, label, output: any(part(c, label, output) for part in parts)

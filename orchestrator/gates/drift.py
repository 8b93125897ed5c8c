"""Confidence drift: the population stability index of a recent window against a baseline. Pure Python."""

import math
from collections.abc import Iterable, Sequence

BINS = 10
_EPSILON = 1e-4  # an empty bin counts as this fraction, so the logarithm stays finite


def histogram(values: Iterable[float], *, bins: int = BINS) -> list[float]:
    """Fractions of `values` in `bins` equal-width bins over [0, 1] (1.0 falls in the last bin)."""
    counts = [0] * bins
    total = 0
    for value in values:
        index = min(bins - 1, max(0, int(float(value) * bins)))
        counts[index] += 1
        total += 1
    return [c / total for c in counts] if total else [0.0] * bins


def psi(baseline: Sequence[float], recent: Sequence[float]) -> float:
    """PSI = sum((r - b) * ln(r / b)) over bins of fractions. Rule of thumb: < 0.1 stable, > 0.25 shifted."""
    if len(baseline) != len(recent):
        raise ValueError("baseline and recent need the same bins")
    total = 0.0
    for b, r in zip(baseline, recent, strict=True):
        b, r = max(b, _EPSILON), max(r, _EPSILON)
        total += (r - b) * math.log(r / b)
    return total

"""Deterministic QA sampling: the same decision under the same policy version always draws the same number."""

import hashlib

_SCALE = float(2**64)


def qa_draw(decision_id: str, policy_version: int | str | None) -> float:
    """A number in [0, 1) from SHA-256(decision id, policy version): uniform over ids, fixed for a replay."""
    digest = hashlib.sha256(f"{decision_id}:{policy_version if policy_version is not None else 'draft'}".encode())
    return int.from_bytes(digest.digest()[:8], "big") / _SCALE

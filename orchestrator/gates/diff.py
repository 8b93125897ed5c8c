"""A structural diff of two policy specs (JSON), path by path. Pure."""

from typing import Any

_ABSENT = object()


def _walk(path: str, old: Any, new: Any, out: list[dict[str, Any]]) -> None:
    if old is _ABSENT:
        out.append({"path": path, "change": "added", "from": None, "to": new})
    elif new is _ABSENT:
        out.append({"path": path, "change": "removed", "from": old, "to": None})
    elif isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new)):
            child = f"{path}.{key}" if path else str(key)
            _walk(child, old.get(key, _ABSENT), new.get(key, _ABSENT), out)
    elif isinstance(old, list) and isinstance(new, list):
        for index in range(max(len(old), len(new))):
            _walk(
                f"{path}[{index}]",
                old[index] if index < len(old) else _ABSENT,
                new[index] if index < len(new) else _ABSENT,
                out,
            )
    elif old != new or type(old) is not type(new):
        out.append({"path": path, "change": "changed", "from": old, "to": new})


def spec_diff(old: Any, new: Any) -> list[dict[str, Any]]:
    """Every path whose value differs; lists compare by position (gates and tiers are ordered)."""
    out: list[dict[str, Any]] = []
    _walk("", old, new, out)
    return out

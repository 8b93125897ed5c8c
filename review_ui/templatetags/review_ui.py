import json
from typing import Any

from django import template

register = template.Library()


@register.filter
def pretty_json(value: Any) -> str:
    """JSON indented for a <pre> block; non-ASCII text stays readable."""
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False, default=str)


@register.filter
def is_mapping(value: Any) -> bool:
    return isinstance(value, dict)


@register.filter
def is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


@register.filter
def percent(value: Any) -> str:
    """0.8234 -> "82.3%"."""
    try:
        return f"{float(value) * 100:.1f}%"
    except (TypeError, ValueError):
        return ""


@register.filter
def label(value: Any) -> str:
    """A machine name for people: "loan_approval" -> "Loan approval"."""
    text = str(value).replace("_", " ").replace(".", " ").strip()
    return text[:1].upper() + text[1:]


EVENT_LABELS = {
    "decision.received": "Decision received",
    "decision.routed": "Routed by the gates",
    "decision.finalized": "Decision finalized",
    "task.created": "Review task created",
    "task.claimed": "Task claimed",
    "task.lease_expired": "Claim expired",
    "task.escalated": "Task escalated",
    "review.submitted": "Verdict submitted",
    "policy.activated": "Policy activated",
}


@register.filter
def event_label(kind: str) -> str:
    return EVENT_LABELS.get(kind) or label(kind)


@register.filter
def scalar(value: Any) -> str:
    """A JSON scalar for people: booleans as Yes/No, null as a dash."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "Yes" if value else "No"
    return str(value)

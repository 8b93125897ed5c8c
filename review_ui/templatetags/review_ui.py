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
    "task.started": "Work started",
    "task.released": "Task released",
    "task.skipped": "Task skipped",
    "task.commented": "Comment added",
    "task.reassigned": "Task reassigned",
    "task.suspended": "Task suspended",
    "task.resumed": "Task resumed",
    "task.priority_changed": "Priority changed",
    "task.info_requested": "Information requested",
    "task.info_provided": "Information provided",
    "task.blind_judgement": "First judgement (blind)",
    "task.disagreement": "Reviewers disagreed",
    "task.cancelled": "Task cancelled",
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


@register.simple_tag
def user_roles(user: Any) -> frozenset[str]:
    """The signed-in user's roles (for the navigation)."""
    from review_ui.roles import roles_of

    return roles_of(user)


@register.filter
def has(container: Any, item: Any) -> bool:
    try:
        return item in container
    except TypeError:
        return False


@register.filter
def seconds_until(moment: Any, now: Any) -> int:
    """Whole seconds from `now` to `moment` (negative once it passed)."""
    if not moment or not now:
        return 0
    return int((moment - now).total_seconds())


@register.filter
def duration(seconds: Any) -> str:
    """4200 -> "1 h 10 min"; for SLA and age read-outs."""
    try:
        total = abs(int(seconds))
    except (TypeError, ValueError):
        return ""
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min"
    return f"{secs} s"


@register.filter
def get(mapping: Any, key: Any) -> Any:
    try:
        return mapping.get(key)
    except AttributeError:
        return None

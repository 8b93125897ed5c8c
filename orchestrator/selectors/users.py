from collections.abc import Iterable
from typing import Any

ROLE_SERVICE = "services"
ROLE_REVIEWER = "reviewers"
ROLE_SUPERVISOR = "supervisors"
ROLE_COMPLIANCE = "compliance"
# The people who oversee the system: they run policies, modes, webhooks and notification routes.
OVERSIGHT_ROLES = (ROLE_SUPERVISOR, ROLE_COMPLIANCE)


def user_has_role(*, user: Any, role: str) -> bool:
    return user_has_any_role(user=user, roles=(role,))


def user_has_any_role(*, user: Any, roles: Iterable[str]) -> bool:
    """Whether the user holds one of the roles (superusers hold all); one query."""
    if not user or not user.is_authenticated:
        return False
    if user.is_superuser:
        return True
    return user.groups.filter(name__in=list(roles)).exists()

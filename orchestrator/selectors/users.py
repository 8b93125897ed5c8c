from typing import Any

ROLE_SERVICE = "services"
ROLE_REVIEWER = "reviewers"
ROLE_SUPERVISOR = "supervisors"
ROLE_COMPLIANCE = "compliance"


def user_has_role(*, user: Any, role: str) -> bool:
    if not user or not user.is_authenticated:
        return False
    if user.is_superuser:
        return True
    return user.groups.filter(name=role).exists()

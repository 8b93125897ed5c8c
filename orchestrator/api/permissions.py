from typing import Any

from rest_framework.permissions import BasePermission

from orchestrator.selectors.users import (
    OVERSIGHT_ROLES,
    ROLE_COMPLIANCE,
    ROLE_SERVICE,
    user_has_any_role,
    user_has_role,
)


class IsServiceAccount(BasePermission):
    """Client systems that submit decisions (the `services` group)."""

    message = "only service accounts may submit decisions"

    def has_permission(self, request: Any, view: Any) -> bool:
        return user_has_role(user=request.user, role=ROLE_SERVICE)


class CanReadAudit(BasePermission):
    """Compliance officers and supervisors read the audit trail."""

    message = "the audit trail is readable by compliance officers and supervisors"

    def has_permission(self, request: Any, view: Any) -> bool:
        return user_has_any_role(user=request.user, roles=OVERSIGHT_ROLES)


class CanReadDecision(BasePermission):
    """A decision is readable by its submitter, by reviewers and by compliance."""

    def has_permission(self, request: Any, view: Any) -> bool:
        return bool(request.user and request.user.is_authenticated)


class IsCompliance(BasePermission):
    """Compliance officers: audit exports, verification status, legal holds."""

    message = "this needs the compliance role"

    def has_permission(self, request: Any, view: Any) -> bool:
        return user_has_role(user=request.user, role=ROLE_COMPLIANCE)

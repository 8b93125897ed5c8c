"""Roles come from the groups the seed data creates: reviewers, supervisors, compliance.

Pages for a role answer 403 to everyone else; the queue-level rules (who supervises which queue)
stay in the services, which refuse with their own reason.
"""

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

from orchestrator.selectors.users import ROLE_COMPLIANCE, ROLE_REVIEWER, ROLE_SUPERVISOR

ROLES = (ROLE_REVIEWER, ROLE_SUPERVISOR, ROLE_COMPLIANCE)


def roles_of(user: Any) -> frozenset[str]:
    """The user's roles, read once per request (superusers have all of them)."""
    if not user or not user.is_authenticated:
        return frozenset()
    cached = getattr(user, "_handrail_roles", None)
    if cached is None:
        if user.is_superuser:
            cached = frozenset(ROLES)
        else:
            cached = frozenset(user.groups.filter(name__in=ROLES).values_list("name", flat=True))
        user._handrail_roles = cached
    return cached


def can_supervise(user: Any) -> bool:
    return ROLE_SUPERVISOR in roles_of(user)


def can_manage_policies(user: Any) -> bool:
    return bool({ROLE_SUPERVISOR, ROLE_COMPLIANCE} & roles_of(user))


def can_read_audit(user: Any) -> bool:
    return bool({ROLE_SUPERVISOR, ROLE_COMPLIANCE} & roles_of(user))


def is_compliance(user: Any) -> bool:
    return ROLE_COMPLIANCE in roles_of(user)


View = Callable[..., HttpResponse]


def role_required(check: Callable[[Any], bool]) -> Callable[[View], View]:
    """Log in first (302 to the login page), then 403 unless `check(user)` holds."""

    def decorate(view: View) -> View:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not check(request.user):
                raise PermissionDenied("your role does not include this page")
            return view(request, *args, **kwargs)

        return login_required(wrapped)

    return decorate

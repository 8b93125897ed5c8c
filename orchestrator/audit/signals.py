"""Access events for the audit trail: sign-ins, failed sign-ins and refused requests (HTTP 403).

`AuditAccessMiddleware` (in settings.MIDDLEWARE) gives every request an id (X-Request-ID, echoed
back) that audit events written during the request carry, and audits each 403 answer. Importing this
module connects the sign-in receivers; the middleware's import does that at start-up.
"""

import re
import uuid
from collections.abc import Callable
from typing import Any

from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.db import transaction
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse

from orchestrator.audit.chain import audit_append, current_request_id

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


def _client(request: HttpRequest | None) -> dict[str, str]:
    if request is None:
        return {}
    return {"path": request.path[:200], "method": request.method or ""}


@receiver(user_logged_in, dispatch_uid="handrail.audit.login")
def audit_login(sender: Any, request: HttpRequest | None = None, user: Any = None, **kwargs: Any) -> None:
    with transaction.atomic():
        audit_append(
            kind="auth.login",
            actor=user,
            subject_type="user",
            subject_id=str(user.pk),
            partition_key=f"user:{user.pk}",
            data=_client(request),
        )


@receiver(user_login_failed, dispatch_uid="handrail.audit.login_failed")
def audit_login_failed(sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kw: Any) -> None:
    claimed = str(credentials.get("username", ""))[:150]  # Django masks secrets in `credentials`
    with transaction.atomic():
        audit_append(
            kind="auth.login_failed",
            actor=claimed or "anonymous",
            outcome="rejected",
            subject_type="user",
            subject_id=claimed,
            partition_key=f"login:{claimed}",
            data=_client(request),
        )


class AuditAccessMiddleware:
    """Request ids for audit events, and an audit event for every refused (403) request."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        supplied = request.headers.get("X-Request-ID", "")
        request_id = supplied if _REQUEST_ID.match(supplied) else uuid.uuid4().hex
        token = current_request_id.set(request_id)
        try:
            response = self.get_response(request)
            if response.status_code == 403:
                self._audit_denied(request)
        finally:
            current_request_id.reset(token)
        response["X-Request-ID"] = request_id
        return response

    @staticmethod
    def _audit_denied(request: HttpRequest) -> None:
        user = getattr(request, "user", None)
        actor: Any = user if user is not None and user.is_authenticated else "anonymous"
        name = actor if isinstance(actor, str) else actor.get_username()
        with transaction.atomic():
            audit_append(
                kind="auth.access_denied",
                actor=actor,
                outcome="rejected",
                subject_type="request",
                subject_id=request.path[:64],
                partition_key=f"denied:{name}",
                data={**_client(request), "status": 403},
            )

"""Domain errors. The API maps each to a 4xx with the field and the reason."""

from typing import Any


class DomainError(Exception):
    """A refused action: nothing was written. `status` is the HTTP status the API answers with."""

    status = 400
    code = "invalid"

    def __init__(self, reason: str, *, field: str | None = None, **context: Any) -> None:
        super().__init__(reason)
        self.reason = reason
        self.field = field
        self.context = context


class ValidationFailed(DomainError):
    code = "invalid"


class NotFound(DomainError):
    status = 404
    code = "not_found"


class PermissionDenied(DomainError):
    status = 403
    code = "forbidden"


class ConflictError(DomainError):
    """The action is illegal in the subject's current state (the state is in `context`)."""

    status = 409
    code = "conflict"


class TaskStateError(ConflictError):
    code = "task_state"

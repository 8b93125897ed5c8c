"""One error shape for every 4xx: {"error": code, "detail": reason, "fields": [{"field", "reason"}]}."""

from typing import Any

from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from orchestrator.errors import DomainError


def _flatten(detail: Any, prefix: str = "") -> list[dict[str, str]]:
    if isinstance(detail, dict):
        out: list[dict[str, str]] = []
        for key, value in detail.items():
            name = "body" if key == "non_field_errors" else (f"{prefix}.{key}" if prefix else str(key))
            out.extend(_flatten(value, name))
        return out
    if isinstance(detail, list):
        out = []
        for index, value in enumerate(detail):
            if isinstance(value, dict | list) and not isinstance(value, exceptions.ErrorDetail):
                out.extend(_flatten(value, f"{prefix}[{index}]"))
            else:
                out.append({"field": prefix or "body", "reason": str(value)})
        return out
    return [{"field": prefix or "body", "reason": str(detail)}]


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, DomainError):
        body: dict[str, Any] = {
            "error": exc.code,
            "detail": exc.reason,
            "fields": [{"field": exc.field or "body", "reason": exc.reason}],
        }
        body.update({k: v for k, v in exc.context.items() if isinstance(v, str | int | float | bool)})
        return Response(body, status=exc.status)
    if isinstance(exc, exceptions.ValidationError):
        fields = _flatten(exc.detail)
        summary = "; ".join(f"{f['field']}: {f['reason']}" for f in fields)
        return Response({"error": "invalid", "detail": summary, "fields": fields}, status=status.HTTP_400_BAD_REQUEST)
    response = drf_exception_handler(exc, context)
    if response is not None and isinstance(response.data, dict) and "detail" in response.data:
        code = getattr(exc, "default_code", "error")
        response.data = {"error": code, "detail": str(response.data["detail"]), "fields": []}
    return response

"""Signed webhooks: the one HTTP format for event notifications and outcome callbacks.

A request is a POST of a JSON body with these headers (docs/notifications.md):

    Content-Type: application/json
    X-Handrail-Event: task.escalated
    X-Handrail-Delivery: <notification id or callback key>
    X-Handrail-Timestamp: 1718000000                       (Unix seconds)
    X-Handrail-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>
    Idempotency-Key: <the same on every retry of one message>

A receiver recomputes the HMAC over the timestamp, a dot and the raw body bytes, compares in constant
time, and refuses timestamps older than its tolerance (replays). Any 2xx is success.
"""

import hashlib
import hmac
import json
import secrets
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction

from orchestrator.audit.chain import audit_append
from orchestrator.errors import ConflictError, PermissionDenied, ValidationFailed
from orchestrator.gates.spec import PolicySpecError, webhook_url
from orchestrator.models import Queue, WebhookEndpoint
from orchestrator.selectors.users import (
    OVERSIGHT_ROLES,
    user_has_any_role,
)

SIGNATURE_HEADER = "X-Handrail-Signature"
TIMESTAMP_HEADER = "X-Handrail-Timestamp"
EVENT_HEADER = "X-Handrail-Event"
DELIVERY_HEADER = "X-Handrail-Delivery"
IDEMPOTENCY_HEADER = "Idempotency-Key"
SIGNATURE_VERSION = "v1"


def webhook_sign(*, secret: str, timestamp: int, body: bytes) -> str:
    """The signature header value: `v1=` + hex HMAC-SHA256 over `<timestamp>.<body>`."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"{SIGNATURE_VERSION}={mac}"


def webhook_verify(*, secret: str, timestamp: str, body: bytes, signature: str, tolerance: int = 300) -> bool:
    """What a receiver does (and our tests): constant-time compare, and refuse stale timestamps."""
    try:
        ts = int(timestamp)
    except ValueError:
        return False
    if abs(time.time() - ts) > tolerance:
        return False
    return hmac.compare_digest(webhook_sign(secret=secret, timestamp=ts, body=body), signature)


@dataclass(frozen=True)
class PostResult:
    ok: bool
    status_code: int | None
    duration_ms: float
    error: str = ""


def webhook_body(payload: Any) -> bytes:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str).encode()


def webhook_post(*, url: str, secret: str, event: str, delivery: str, idempotency_key: str, body: bytes) -> PostResult:
    """POST one signed request; never raises. ok for a 2xx answer within the timeout."""
    timestamp = int(time.time())
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "handrail-webhooks/1",
            EVENT_HEADER: event,
            DELIVERY_HEADER: delivery,
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: webhook_sign(secret=secret, timestamp=timestamp, body=body),
            IDEMPOTENCY_HEADER: idempotency_key,
        },
    )
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=settings.HANDRAIL_WEBHOOK_TIMEOUT_SECONDS) as response:  # noqa: S310
            code = response.status
    except urllib.error.HTTPError as exc:
        elapsed = (time.perf_counter() - started) * 1000
        return PostResult(False, exc.code, elapsed, f"HTTP {exc.code}")
    except Exception as exc:  # connection refused, timeout, DNS: all retried
        elapsed = (time.perf_counter() - started) * 1000
        return PostResult(False, None, elapsed, f"{type(exc).__name__}: {exc}"[:2000])
    elapsed = (time.perf_counter() - started) * 1000
    if 200 <= code < 300:
        return PostResult(True, code, elapsed)
    return PostResult(False, code, elapsed, f"HTTP {code}")


# ---------------------------------------------------------------- endpoints


def _require_manager(user: Any) -> None:
    if not user_has_any_role(user=user, roles=OVERSIGHT_ROLES):
        raise PermissionDenied("webhooks are managed by supervisors and compliance officers", field="user")


@transaction.atomic
def webhook_endpoint_create(
    *,
    actor: Any,
    name: str,
    url: str,
    events: list[str],
    secret: str = "",
    flow: str = "",
    queue: str = "",
) -> WebhookEndpoint:
    """Register a receiver. The URL must be http(s); without a secret one is generated (shown once)."""
    _require_manager(actor)
    try:
        url = webhook_url(url, "url")
    except PolicySpecError as exc:
        raise ValidationFailed(exc.reason, field="url") from exc
    if not events or not all(isinstance(e, str) and e.strip() for e in events):
        raise ValidationFailed('list the events to send, or ["*"] for all', field="events")
    target = None
    if queue:
        target = Queue.objects.filter(slug=queue).first()
        if target is None:
            raise ValidationFailed(f"unknown queue {queue!r}", field="queue")
    try:
        with transaction.atomic():
            endpoint = WebhookEndpoint.objects.create(
                name=name,
                url=url,
                secret=secret or secrets.token_urlsafe(32),
                events=sorted(set(events)),
                flow=flow,
                queue=target,
                created_by=actor,
            )
    except IntegrityError as exc:
        raise ConflictError(f"a webhook named {name!r} exists", field="name") from exc
    audit_append(
        kind="webhook.created",
        actor=actor,
        flow=flow,
        queue=queue,
        subject_type="webhook",
        subject_id=str(endpoint.pk),
        data={"name": name, "url": url, "events": endpoint.events},
    )
    return endpoint

"""A small Python client for systems that submit decisions to Handrail, and verify its webhooks.

This module imports nothing from Django or the rest of Handrail (the standard library only), so a
client system can copy it or import it without Django settings:

```python
from orchestrator.sdk.client import HandrailClient

client = HandrailClient("http://127.0.0.1:8000", token="…")
decision = client.submit_decision(
    flow="loan_approval",
    idempotency_key="application-1001",
    model={"name": "credit-gbm", "version": "7"},
    output={"label": "approve"},
    confidence=0.62,
    payload={"applicant": "A-1001", "amount": 25000, "income": 64000},
)
final = client.wait_for_outcome(decision["id"], timeout=600)
```

Retries: 429 and 5xx answers and connection errors are retried with exponential backoff and jitter
(honouring `Retry-After`); a submission is safe to retry because it carries an idempotency key (the
same key returns the first decision). Other 4xx raise `HandrailError` with the API's field errors.

Webhooks: Handrail signs each delivery with HMAC-SHA256 over `"<timestamp>.<raw body>"` using the
endpoint's secret; headers `X-Handrail-Timestamp: <unix seconds>` and `X-Handrail-Signature: v1=<hex>`
(several `v1=` values, comma-separated, during a secret rotation). `verify_webhook` checks one in
constant time and refuses timestamps outside the tolerance (replays).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Mapping
from typing import Any

TIMESTAMP_HEADER = "X-Handrail-Timestamp"
SIGNATURE_HEADER = "X-Handrail-Signature"
SIGNATURE_SCHEME = "v1"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
FINAL_STATUSES = frozenset({"completed", "failed"})


class HandrailError(Exception):
    """The API refused a request: `status`, `error` code, `detail` and `fields` ([{field, reason}])."""

    def __init__(self, status: int, body: Mapping[str, Any] | None) -> None:
        body = body or {}
        self.status = status
        self.error = str(body.get("error", ""))
        self.detail = str(body.get("detail", ""))
        self.fields: list[dict[str, Any]] = list(body.get("fields") or [])
        named = ", ".join(f"{f.get('field')}: {f.get('reason')}" for f in self.fields)
        super().__init__(f"{status} {self.error}: {self.detail}" + (f" ({named})" if named else ""))


class OutcomeTimeout(TimeoutError):
    """`wait_for_outcome` gave up; `decision` is the last state seen."""

    def __init__(self, decision: Mapping[str, Any]) -> None:
        super().__init__(f"decision {decision.get('id')} is still {decision.get('status')!r}")
        self.decision = dict(decision)


class WebhookVerificationError(ValueError):
    """A webhook's signature or timestamp did not check out: do not act on it."""


class HandrailClient:
    """Submit decisions and read their outcome over the v1 API, with retries on 429/5xx."""

    def __init__(
        self,
        base_url: str,
        *,
        token: str,
        timeout: float = 10.0,
        max_retries: int = 5,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self._sleep = sleep

    # --- calls ----------------------------------------------------------------------------------

    def submit_decision(
        self,
        *,
        flow: str,
        idempotency_key: str | None = None,
        model: Mapping[str, str] | None = None,
        output: Any = None,
        confidence: float | None = None,
        inputs: Mapping[str, Any] | None = None,
        payload: Mapping[str, Any] | None = None,
        risk: Mapping[str, Any] | None = None,
        exclude_reviewers: list[str] | None = None,
    ) -> dict[str, Any]:
        """POST /api/v1/decisions; returns `{id, status, workflow_id}`. A generated key when none is given
        (pass your own business key to make retries across process restarts safe too)."""
        body: dict[str, Any] = {"flow": flow, "idempotency_key": idempotency_key or f"sdk-{uuid.uuid4()}"}
        for name, value in (
            ("model", model),
            ("output", output),
            ("confidence", confidence),
            ("inputs", inputs),
            ("payload", payload),
            ("risk", risk),
            ("exclude_reviewers", exclude_reviewers),
        ):
            if value is not None:
                body[name] = value
        return self._request("POST", "/api/v1/decisions", body)

    def get_decision(self, decision_id: str) -> dict[str, Any]:
        """GET /api/v1/decisions/{id}: status, route, outcome, final_output, policy_version, explanation."""
        return self._request("GET", f"/api/v1/decisions/{urllib.parse.quote(str(decision_id))}")

    def wait_for_outcome(
        self, decision_id: str, *, timeout: float = 300.0, poll_interval: float = 1.0, max_interval: float = 15.0
    ) -> dict[str, Any]:
        """Poll until the decision is completed (or failed); raises OutcomeTimeout after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        interval = poll_interval
        while True:
            decision = self.get_decision(decision_id)
            if decision.get("status") in FINAL_STATUSES:
                return decision
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise OutcomeTimeout(decision)
            self._sleep(min(interval, remaining))
            interval = min(interval * 1.5, max_interval)

    # --- transport ------------------------------------------------------------------------------

    def _delay(self, attempt: int, retry_after: str | None) -> float:
        if retry_after:
            try:
                return min(float(retry_after), self.max_backoff)
            except ValueError:
                pass
        ceiling = min(self.max_backoff, self.backoff * (2**attempt))
        return random.uniform(ceiling / 2, ceiling)  # noqa: S311 (jitter, not security)

    def _request(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Authorization": f"Token {self.token}", "Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        attempt = 0
        while True:
            request = urllib.request.Request(self.base_url + path, data=data, method=method, headers=headers)
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                    raw = response.read()
                    return json.loads(raw) if raw else {}
            except urllib.error.HTTPError as exc:
                raw = exc.read()
                if exc.code in RETRY_STATUSES and attempt < self.max_retries:
                    self._sleep(self._delay(attempt, exc.headers.get("Retry-After")))
                    attempt += 1
                    continue
                try:
                    parsed = json.loads(raw) if raw else None
                except ValueError:
                    parsed = {"detail": raw.decode(errors="replace")[:500]}
                raise HandrailError(exc.code, parsed if isinstance(parsed, dict) else None) from exc
            except (urllib.error.URLError, TimeoutError, ConnectionError):
                if attempt >= self.max_retries:
                    raise
                self._sleep(self._delay(attempt, None))
                attempt += 1


def sign_webhook(secret: str | bytes, body: bytes, *, timestamp: int | None = None) -> dict[str, str]:
    """The headers Handrail sends with a webhook: `X-Handrail-Timestamp` and `X-Handrail-Signature: v1=<hex>`."""
    key = secret.encode() if isinstance(secret, str) else secret
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(key, stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return {TIMESTAMP_HEADER: stamp, SIGNATURE_HEADER: f"{SIGNATURE_SCHEME}={digest}"}


def verify_webhook(
    secret: str | bytes,
    body: bytes,
    headers: Mapping[str, str],
    *,
    tolerance: float = 300.0,
    now: float | None = None,
) -> dict[str, Any]:
    """Check a webhook's signature over the raw body and its timestamp; return the parsed JSON body.

    Raises WebhookVerificationError when a header is missing, no `v1=` signature matches, or the
    timestamp is more than `tolerance` seconds away from now (a replay).
    """
    lowered = {name.lower(): value for name, value in headers.items()}
    stamp = lowered.get(TIMESTAMP_HEADER.lower())
    signature = lowered.get(SIGNATURE_HEADER.lower())
    if not stamp or not signature:
        raise WebhookVerificationError(f"missing {TIMESTAMP_HEADER} or {SIGNATURE_HEADER} header")
    try:
        sent_at = int(stamp)
    except ValueError as exc:
        raise WebhookVerificationError(f"{TIMESTAMP_HEADER} is not a unix time") from exc
    current = time.time() if now is None else now
    if abs(current - sent_at) > tolerance:
        raise WebhookVerificationError("timestamp outside the tolerance (a replay or a skewed clock)")
    expected = sign_webhook(secret, body, timestamp=sent_at)[SIGNATURE_HEADER].split("=", 1)[1]
    candidates = [
        part.strip().split("=", 1)[1]
        for part in signature.split(",")
        if part.strip().startswith(f"{SIGNATURE_SCHEME}=")
    ]
    if not any(hmac.compare_digest(expected, candidate) for candidate in candidates):
        raise WebhookVerificationError("signature does not match")
    try:
        parsed: dict[str, Any] = json.loads(body)
    except ValueError as exc:
        raise WebhookVerificationError("body is not JSON") from exc
    return parsed

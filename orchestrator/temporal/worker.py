"""The Temporal worker: the decision workflow and the Django-backed activities on one task queue."""

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.conf import settings
from temporalio.client import Client
from temporalio.worker import Worker

from orchestrator.temporal.activities import ACTIVITIES
from workflows.decision import DecisionWorkflow

WORKFLOWS = [DecisionWorkflow]


def build_worker(
    client: Client,
    executor: ThreadPoolExecutor,
    *,
    task_queue: str | None = None,
    extra_workflows: Sequence[type] = (),
    extra_activities: Sequence[Callable[..., Any]] = (),
) -> Worker:
    return Worker(
        client,
        task_queue=task_queue or settings.TEMPORAL_TASK_QUEUE,
        workflows=[*WORKFLOWS, *extra_workflows],
        activities=[*ACTIVITIES, *extra_activities],
        activity_executor=executor,
        max_concurrent_activities=settings.TEMPORAL_ACTIVITY_THREADS,
        max_concurrent_local_activities=settings.TEMPORAL_ACTIVITY_THREADS,
    )

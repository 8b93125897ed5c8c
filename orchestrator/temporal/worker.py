"""The Temporal worker: the decision workflow, the flows' custom workflows and the Django-backed activities.

Custom workflows come from the registered flows (`Flow.workflow`) and `settings.HANDRAIL_WORKFLOWS`
(dotted paths), so a new flow needs no change here.
"""

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.conf import settings
from temporalio.client import Client
from temporalio.worker import Worker

from orchestrator.flows import flow_workflows
from orchestrator.temporal.activities import ACTIVITIES
from workflows.decision import DecisionWorkflow

WORKFLOWS: list[type] = [DecisionWorkflow]


def worker_workflows() -> list[type]:
    """The built-in workflow and every custom one the flows name."""
    return WORKFLOWS + [cls for cls in flow_workflows() if cls not in WORKFLOWS]


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
        workflows=[*worker_workflows(), *extra_workflows],
        activities=[*ACTIVITIES, *extra_activities],
        activity_executor=executor,
        max_concurrent_activities=settings.TEMPORAL_ACTIVITY_THREADS,
        max_concurrent_local_activities=settings.TEMPORAL_ACTIVITY_THREADS,
    )

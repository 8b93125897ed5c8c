"""Celery tasks: thin interfaces that call services."""

from celery import shared_task

from orchestrator.audit import tasks as audit_tasks  # noqa: F401  (registers the audit tasks)
from orchestrator.services.outbox import outbox_deliver, outbox_sweep


@shared_task(name="orchestrator.outbox_deliver", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def outbox_deliver_task(outbox_id: int) -> bool:
    return outbox_deliver(outbox_id=outbox_id)


@shared_task(name="orchestrator.outbox_sweep", acks_late=True, ignore_result=True)
def outbox_sweep_task() -> int:
    return outbox_sweep()


@shared_task(name="orchestrator.task_expire_leases", acks_late=True, ignore_result=True)
def task_expire_leases_task() -> int:
    from orchestrator.services.tasks import task_expire_leases

    return task_expire_leases()


@shared_task(name="orchestrator.notification_deliver", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def notification_deliver_task(notification_id: int) -> bool:
    from orchestrator.services.notifications import notification_deliver

    return notification_deliver(notification_id=notification_id)


@shared_task(name="orchestrator.notification_sweep", acks_late=True, ignore_result=True)
def notification_sweep_task() -> int:
    from orchestrator.services.notifications import notification_sweep

    return notification_sweep()


@shared_task(name="orchestrator.degradation_evaluate", acks_late=True, ignore_result=True)
def degradation_evaluate_task(flow: str | None = None) -> int:
    """The mode evaluator (beat, every HANDRAIL_MODE_EVALUATE_SECONDS): modes with hysteresis, breakers."""
    from orchestrator.services.degradation import degradation_evaluate

    return len(degradation_evaluate(flow=flow))

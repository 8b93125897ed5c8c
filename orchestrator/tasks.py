"""Celery tasks: thin interfaces that call services."""

from celery import shared_task

from orchestrator.services.outbox import outbox_deliver, outbox_sweep


@shared_task(name="orchestrator.outbox_deliver", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def outbox_deliver_task(outbox_id: int) -> bool:
    return outbox_deliver(outbox_id=outbox_id)


@shared_task(name="orchestrator.outbox_sweep", acks_late=True, ignore_result=True)
def outbox_sweep_task() -> int:
    return outbox_sweep()

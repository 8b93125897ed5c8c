"""The outbox relay: messages to Temporal leave only after their change committed, and until acked.

Delivery is tried right after commit, then by a Celery task with backoff, then by the beat sweeper.
Every message is idempotent at the receiver (workflow id / review id), so a repeat is harmless.
"""

import logging
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from temporalio.service import RPCError, RPCStatusCode

from orchestrator.models import Decision, DecisionStatus, Outbox, OutboxTopic
from orchestrator.temporal.client import gateway
from workflows.contracts import VerdictSignal

log = logging.getLogger(__name__)


def outbox_enqueue(*, topic: str, key: str, payload: dict[str, Any]) -> Outbox:
    """Write a message in the caller's transaction; try to deliver it as soon as that commits."""
    message, _ = Outbox.objects.get_or_create(topic=topic, key=key, defaults={"payload": payload})
    transaction.on_commit(lambda: outbox_deliver_after_commit(outbox_id=message.pk))
    return message


def outbox_deliver_after_commit(*, outbox_id: int) -> None:
    """The fast path: deliver now; on failure hand the message to Celery (the sweeper backs both up)."""
    if outbox_deliver(outbox_id=outbox_id):
        return
    try:
        from orchestrator.tasks import outbox_deliver_task

        message = Outbox.objects.filter(pk=outbox_id).only("next_attempt_at").first()
        if message is not None:
            outbox_deliver_task.apply_async(args=[outbox_id], eta=message.next_attempt_at)
    except Exception:  # Redis away: the beat sweeper will find the row
        log.warning("could not enqueue outbox %s; the sweeper will deliver it", outbox_id, exc_info=True)


def _backoff(attempts: int) -> timedelta:
    seconds = min(settings.HANDRAIL_OUTBOX_MAX_BACKOFF_SECONDS, 0.5 * (2 ** min(attempts, 20)))
    return timedelta(seconds=seconds)


def _send(message: Outbox) -> None:
    if message.topic == OutboxTopic.WORKFLOW_START:
        gateway.start_decision(message.key)
    elif message.topic == OutboxTopic.VERDICT:
        gateway.signal_verdict(message.payload["decision_id"], VerdictSignal(**message.payload["signal"]))
    else:
        raise ValueError(f"unknown outbox topic {message.topic!r}")


def _is_obsolete(message: Outbox, error: Exception) -> bool:
    """A verdict for a workflow that already finished can never be delivered: the decision is settled."""
    if not (isinstance(error, RPCError) and error.status == RPCStatusCode.NOT_FOUND):
        return False
    if message.topic != OutboxTopic.VERDICT:
        return False
    return Decision.objects.filter(pk=message.payload["decision_id"], status=DecisionStatus.COMPLETED).exists()


def outbox_deliver(*, outbox_id: int) -> bool:
    """Deliver one message if it is due and nobody else holds it. True once it is delivered."""
    with transaction.atomic():
        message = Outbox.objects.select_for_update(skip_locked=True).filter(pk=outbox_id).first()
        if message is None:
            return False  # another relay holds it right now
        if message.delivered_at or message.abandoned_at:
            return message.delivered_at is not None
        try:
            _send(message)
        except Exception as exc:
            message.attempts += 1
            message.last_error = f"{type(exc).__name__}: {exc}"[:2000]
            if _is_obsolete(message, exc):
                message.abandoned_at = timezone.now()
            else:
                message.next_attempt_at = timezone.now() + _backoff(message.attempts)
            message.save(update_fields=["attempts", "last_error", "next_attempt_at", "abandoned_at"])
            log.info("outbox %s %s not delivered (attempt %s): %s", message.topic, message.key, message.attempts, exc)
            return False
        message.attempts += 1
        message.delivered_at = timezone.now()
        message.last_error = ""
        message.save(update_fields=["attempts", "delivered_at", "last_error"])
        return True


def outbox_sweep(*, limit: int = 500) -> int:
    """Deliver every due message (the beat sweeper). Returns how many were delivered."""
    due = list(
        Outbox.objects.filter(delivered_at__isnull=True, abandoned_at__isnull=True, next_attempt_at__lte=timezone.now())
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
    return sum(1 for pk in due if outbox_deliver(outbox_id=pk))

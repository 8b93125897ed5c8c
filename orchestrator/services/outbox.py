"""The outbox relay: messages to Temporal leave only after their change committed, and until acked.

Delivery is tried right after commit (on a small relay pool, so a request never waits on Temporal),
then by a Celery task with backoff, then by the beat sweeper. Every message is idempotent at the
receiver (workflow id / review id), so a repeat is harmless.
"""

import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.utils import timezone
from temporalio.client import WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from orchestrator.audit.chain import audit_append
from orchestrator.models import AuditEvent, Decision, DecisionStatus, Outbox, OutboxTopic
from orchestrator.temporal.client import gateway
from workflows.contracts import DECISION_WORKFLOW, ModelOptions, VerdictInput

log = logging.getLogger(__name__)

_relay_pool = ThreadPoolExecutor(max_workers=settings.HANDRAIL_OUTBOX_RELAY_THREADS, thread_name_prefix="outbox")


def outbox_enqueue(*, topic: str, key: str, payload: dict[str, Any]) -> Outbox:
    """Write a message in the caller's transaction; try to deliver it as soon as that commits."""
    message, _ = Outbox.objects.get_or_create(topic=topic, key=key, defaults={"payload": payload})
    if settings.HANDRAIL_OUTBOX_DELIVER_INLINE:
        transaction.on_commit(lambda: outbox_deliver_after_commit(outbox_id=message.pk))
    else:
        transaction.on_commit(lambda: _relay_pool.submit(_deliver_in_pool, message.pk))
    return message


def _deliver_in_pool(outbox_id: int) -> None:
    try:
        outbox_deliver_after_commit(outbox_id=outbox_id)
    except Exception:
        log.exception("outbox relay failed for %s; the sweeper will retry", outbox_id)
    finally:
        connection.close()


def outbox_deliver_after_commit(*, outbox_id: int) -> None:
    """The fast path: deliver now; on failure hand the message to Celery (the sweeper backs both up)."""
    if outbox_deliver(outbox_id=outbox_id):
        return
    try:
        from orchestrator.tasks import outbox_deliver_task

        message = Outbox.objects.filter(pk=outbox_id, delivered_at__isnull=True, abandoned_at__isnull=True).first()
        if message is not None:
            outbox_deliver_task.apply_async(args=[outbox_id], eta=message.next_attempt_at)
    except Exception:  # Redis away: the beat sweeper will find the row
        log.warning("could not enqueue outbox %s; the sweeper will deliver it", outbox_id, exc_info=True)


def _backoff(attempts: int) -> timedelta:
    seconds = min(settings.HANDRAIL_OUTBOX_MAX_BACKOFF_SECONDS, 0.5 * (2 ** min(attempts, 20)))
    return timedelta(seconds=seconds)


def _send(message: Outbox) -> None:
    if message.topic == OutboxTopic.WORKFLOW_START:
        model = message.payload.get("model")  # set when the client sent inputs for the flow's model step
        gateway.start_decision(
            message.key,
            workflow=message.payload.get("workflow", DECISION_WORKFLOW),
            model=ModelOptions(**model) if model else None,
        )
    elif message.topic == OutboxTopic.VERDICT:
        gateway.deliver_verdict(message.payload["decision_id"], VerdictInput(**message.payload["verdict"]))
    else:
        raise ValueError(f"unknown outbox topic {message.topic!r}")


def _settled_by(message: Outbox, error: Exception) -> str | None:
    """For a verdict whose workflow has already finished: "delivered" when the workflow finalized with
    this very review (an earlier attempt reached it), "obsolete" when it settled otherwise; else None."""
    if not (isinstance(error, RPCError) and error.status == RPCStatusCode.NOT_FOUND):
        return None
    if message.topic != OutboxTopic.VERDICT:
        return None
    decision_id = message.payload["decision_id"]
    if not Decision.objects.filter(pk=decision_id, status=DecisionStatus.COMPLETED).exists():
        return None
    finalized = AuditEvent.objects.filter(decision_id=decision_id, kind="decision.finalized")
    return "delivered" if finalized.filter(data__review_id=message.key).exists() else "obsolete"


def _refuse(message: Outbox, error: WorkflowUpdateFailedError) -> None:
    """The workflow's validator refused a committed verdict: stop retrying and leave an audit trace."""
    cause = error.cause
    reason = str(getattr(cause, "message", None) or cause or error)
    message.abandoned_at = timezone.now()
    message.last_error = f"refused by the workflow: {reason}"[:2000]
    audit_append(
        kind="verdict.refused_by_workflow",
        actor="workflow",
        outcome="rejected",
        decision_id=message.payload.get("decision_id"),
        subject_type="review",
        subject_id=message.key,
        data={"reason": reason},
    )


def outbox_deliver(*, outbox_id: int) -> bool:
    """Deliver one message if it is due and nobody else holds it. True once it is delivered."""
    close_old_connections()
    with transaction.atomic():
        message = Outbox.objects.select_for_update(skip_locked=True).filter(pk=outbox_id).first()
        if message is None:
            return False  # another relay holds it right now
        if message.delivered_at or message.abandoned_at:
            return message.delivered_at is not None
        message.attempts += 1
        try:
            _send(message)
        except WorkflowUpdateFailedError as exc:
            _refuse(message, exc)
            message.save(update_fields=["attempts", "last_error", "abandoned_at"])
            return False
        except Exception as exc:
            message.last_error = f"{type(exc).__name__}: {exc}"[:2000]
            settled = _settled_by(message, exc)
            if settled == "delivered":
                message.delivered_at = timezone.now()
                message.last_error = "the workflow had already finalized with this verdict"
                message.save(update_fields=["attempts", "last_error", "delivered_at"])
                return True
            if settled == "obsolete":
                message.abandoned_at = timezone.now()
            else:
                message.next_attempt_at = timezone.now() + _backoff(message.attempts)
            message.save(update_fields=["attempts", "last_error", "next_attempt_at", "abandoned_at"])
            log.info("outbox %s %s not delivered (attempt %s): %s", message.topic, message.key, message.attempts, exc)
            return False
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

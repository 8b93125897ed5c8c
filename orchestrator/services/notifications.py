"""Notifications: written in the transaction of the event that causes them, sent after commit by Celery.

Email goes through Django's email backend; webhooks (and revocation callbacks) are signed HTTP POSTs
(services/webhooks.py). Delivery is retried with exponential backoff up to a bound, every attempt is
logged, then the notification is marked dead and listed for manual redelivery.
"""

import json
import logging
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from orchestrator.audit.chain import audit_append
from orchestrator.errors import ConflictError, NotFound, PermissionDenied
from orchestrator.models import Notification, NotificationAttempt, NotificationStatus, Queue, WebhookEndpoint
from orchestrator.selectors.users import (
    OVERSIGHT_ROLES,
    user_has_any_role,
)
from orchestrator.services.webhooks import webhook_body, webhook_post

log = logging.getLogger(__name__)


def notification_enqueue(
    *, channel: str, target: str, event: str, dedupe_key: str, subject: str = "", body: str = "", **extra: Any
) -> Notification:
    """Record one notification (idempotent per dedupe key) and send it after the caller commits."""
    notification, created = Notification.objects.get_or_create(
        dedupe_key=dedupe_key,
        defaults={"channel": channel, "target": target, "event": event, "subject": subject, "body": body, **extra},
    )
    if created:
        transaction.on_commit(lambda: _dispatch(notification.pk))
    return notification


def _dispatch(notification_id: int) -> None:
    try:
        from orchestrator.tasks import notification_deliver_task

        notification_deliver_task.delay(notification_id)
    except Exception:  # Redis away: the sweeper finds pending notifications
        log.warning("could not enqueue notification %s; the sweeper will send it", notification_id, exc_info=True)


def notify_supervisors(
    *, queue: Queue, event: str, subject: str, body: str, decision_id: Any, dedupe: str
) -> list[Notification]:
    """Email every supervisor of the queue (direct or through a group) who has an address."""
    people = (
        get_user_model()
        .objects.filter(Q(supervised_queues=queue) | Q(groups__supervised_queues=queue))
        .exclude(email="")
        .distinct()
        .order_by("pk")
    )
    sent = []
    for user in people:
        sent.append(
            notification_enqueue(
                channel="email",
                target=user.email,
                event=event,
                subject=subject,
                body=body,
                decision_id=decision_id,
                dedupe_key=f"{dedupe}:{user.pk}",
            )
        )
    return sent


def notify_event(
    *, event: str, flow: str, queue: str = "", decision_id: Any = None, payload: dict[str, Any], dedupe: str
) -> list[Notification]:
    """Fan an event out to every active webhook endpoint subscribed to it and in scope (flow, queue).

    Call inside the transaction of the change: the notifications commit with it and leave after commit.
    """
    endpoints = WebhookEndpoint.objects.filter(active=True).filter(Q(flow="") | Q(flow=flow))
    endpoints = (
        endpoints.filter(Q(queue__isnull=True) | Q(queue__slug=queue))
        if queue
        else endpoints.filter(queue__isnull=True)
    )
    body = {"event": event, "flow": flow, "queue": queue or None, "decision_id": decision_id, **payload}
    sent = []
    for endpoint in endpoints:
        if "*" not in endpoint.events and event not in endpoint.events:
            continue
        sent.append(
            notification_enqueue(
                channel="webhook",
                target=endpoint.name,
                event=event,
                subject=event,
                payload=json.loads(json.dumps(body, default=str)),
                decision_id=decision_id,
                dedupe_key=f"{dedupe}:webhook:{endpoint.pk}",
            )
        )
    return sent


@dataclass(frozen=True)
class _Attempt:
    ok: bool
    status_code: int | None = None
    error: str = ""


def _send(notification: Notification) -> _Attempt:
    if notification.channel == "email":
        try:
            send_mail(
                notification.subject,
                notification.body,
                settings.DEFAULT_FROM_EMAIL,
                [notification.target],
                fail_silently=False,
            )
        except Exception as exc:
            return _Attempt(False, None, f"{type(exc).__name__}: {exc}")
        return _Attempt(True)
    if notification.channel in ("webhook", "callback"):
        if notification.channel == "webhook":
            endpoint = WebhookEndpoint.objects.filter(name=notification.target).first()
            if endpoint is None or not endpoint.active:
                return _Attempt(False, None, f"webhook {notification.target!r} is missing or inactive")
            url, secret = endpoint.url, endpoint.secret
        else:
            from orchestrator.services.callbacks import callback_target

            found = callback_target(decision_id=notification.decision_id, name=notification.target)
            if found is None:
                return _Attempt(False, None, f"callback {notification.target!r} has no URL")
            url, secret = found
        result = webhook_post(
            url=url,
            secret=secret,
            event=notification.event,
            delivery=str(notification.pk),
            idempotency_key=str(notification.payload.get("idempotency_key") or notification.dedupe_key),
            body=webhook_body(notification.payload),
        )
        return _Attempt(result.ok, result.status_code, result.error)
    return _Attempt(False, None, f"unknown channel {notification.channel!r}")


def _backoff_seconds(attempts: int) -> float:
    base = settings.HANDRAIL_NOTIFICATION_BACKOFF_SECONDS
    return float(min(settings.HANDRAIL_NOTIFICATION_MAX_BACKOFF_SECONDS, base * 2.0 ** (attempts - 1)))


def notification_deliver(*, notification_id: int) -> bool:
    """Send one pending notification; on failure schedule a retry, or mark it dead past the bound.

    Every attempt is logged (status code, duration, error) in the delivery log.
    """
    with transaction.atomic():
        notification = (
            Notification.objects.select_for_update(skip_locked=True)
            .filter(pk=notification_id, status=NotificationStatus.PENDING)
            .first()
        )
        if notification is None:
            return False
        notification.attempts += 1
        started = time.perf_counter()
        result = _send(notification)
        NotificationAttempt.objects.create(
            notification=notification,
            attempt=notification.attempts,
            ok=result.ok,
            status_code=result.status_code,
            duration_ms=round((time.perf_counter() - started) * 1000, 3),
            error=result.error[:2000],
        )
        if not result.ok:
            notification.last_error = result.error[:2000]
            if notification.attempts >= settings.HANDRAIL_NOTIFICATION_MAX_ATTEMPTS:
                notification.status = NotificationStatus.DEAD
                audit_append(
                    kind="notification.dead",
                    actor="system",
                    outcome="failed",
                    decision_id=notification.decision_id,
                    subject_type="notification",
                    subject_id=str(notification.pk),
                    data={
                        "channel": notification.channel,
                        "target": notification.target,
                        "event": notification.event,
                        "attempts": notification.attempts,
                        "error": notification.last_error,
                    },
                )
            else:
                notification.next_attempt_at = timezone.now() + timedelta(
                    seconds=_backoff_seconds(notification.attempts)
                )
            notification.save(update_fields=["attempts", "last_error", "status", "next_attempt_at"])
            return False
        if notification.channel == "callback":
            from orchestrator.services.callbacks import callback_redelivered

            callback_redelivered(notification=notification, status_code=result.status_code)
        notification.status = NotificationStatus.DELIVERED
        notification.delivered_at = timezone.now()
        notification.last_error = ""
        notification.save(update_fields=["attempts", "status", "delivered_at", "last_error"])
        return True


@transaction.atomic
def notification_redeliver(*, notification_id: int, actor: Any) -> Notification:
    """Send a dead (or delivered) notification again: a fresh round of bounded retries, same idempotency key."""
    if not user_has_any_role(user=actor, roles=OVERSIGHT_ROLES):
        raise PermissionDenied("redelivery is for supervisors and compliance officers", field="user")
    notification = Notification.objects.select_for_update().filter(pk=notification_id).first()
    if notification is None:
        raise NotFound(f"notification {notification_id} does not exist", field="notification_id")
    if notification.status == NotificationStatus.PENDING:
        raise ConflictError("this notification is still being retried", field="status", state=notification.status)
    before = notification.status
    notification.status = NotificationStatus.PENDING
    notification.attempts = 0
    notification.next_attempt_at = timezone.now()
    notification.save(update_fields=["status", "attempts", "next_attempt_at"])
    audit_append(
        kind="notification.redelivery_requested",
        actor=actor,
        decision_id=notification.decision_id,
        subject_type="notification",
        subject_id=str(notification.pk),
        data={
            "channel": notification.channel,
            "target": notification.target,
            "event": notification.event,
            "was": before,
        },
    )
    transaction.on_commit(lambda: _dispatch(notification.pk))
    return notification


def notification_sweep(*, limit: int = 500) -> int:
    due = list(
        Notification.objects.filter(status=NotificationStatus.PENDING, next_attempt_at__lte=timezone.now())
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
    return sum(1 for pk in due if notification_deliver(notification_id=pk))

"""Notifications: written in the transaction of the event that causes them, sent after commit by Celery.

Email goes through Django's email backend. Delivery is retried with exponential backoff up to a
bound, then the notification is marked dead and listed for manual redelivery.
"""

import logging
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from orchestrator.models import Notification, NotificationStatus, Queue

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
    people = {u.pk: u for u in queue.supervisors.all()}
    for group in queue.supervisor_groups.all():
        people.update({u.pk: u for u in group.user_set.all()})
    sent = []
    for user in people.values():
        if not user.email:
            continue
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


def _send(notification: Notification) -> None:
    if notification.channel == "email":
        send_mail(
            notification.subject,
            notification.body,
            settings.DEFAULT_FROM_EMAIL,
            [notification.target],
            fail_silently=False,
        )
        return
    raise ValueError(f"unknown channel {notification.channel!r}")


def notification_deliver(*, notification_id: int) -> bool:
    """Send one pending notification; on failure schedule a retry, or mark it dead past the bound."""
    with transaction.atomic():
        notification = (
            Notification.objects.select_for_update(skip_locked=True)
            .filter(pk=notification_id, status=NotificationStatus.PENDING)
            .first()
        )
        if notification is None:
            return False
        notification.attempts += 1
        try:
            _send(notification)
        except Exception as exc:
            notification.last_error = f"{type(exc).__name__}: {exc}"[:2000]
            if notification.attempts >= settings.HANDRAIL_NOTIFICATION_MAX_ATTEMPTS:
                notification.status = NotificationStatus.DEAD
            else:
                delay = min(3600.0, 2.0**notification.attempts)
                notification.next_attempt_at = timezone.now() + timedelta(seconds=delay)
            notification.save(update_fields=["attempts", "last_error", "status", "next_attempt_at"])
            return False
        notification.status = NotificationStatus.DELIVERED
        notification.delivered_at = timezone.now()
        notification.save(update_fields=["attempts", "status", "delivered_at"])
        return True


def notification_sweep(*, limit: int = 500) -> int:
    due = list(
        Notification.objects.filter(status=NotificationStatus.PENDING, next_attempt_at__lte=timezone.now())
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
    return sum(1 for pk in due if notification_deliver(notification_id=pk))

"""Reads for notifications: the delivery list, dead letters, one notification's delivery log, webhooks."""

from typing import Any

from django.db.models import QuerySet

from orchestrator.models import Notification, NotificationAttempt, WebhookEndpoint


def notification_list(
    *, status: str | None = None, channel: str | None = None, event: str | None = None, limit: int = 200
) -> list[Notification]:
    """Newest first; `status=dead` is the dead-letter list."""
    rows: QuerySet[Notification] = Notification.objects.all()
    if status:
        rows = rows.filter(status=status)
    if channel:
        rows = rows.filter(channel=channel)
    if event:
        rows = rows.filter(event=event)
    return list(rows.order_by("-created_at", "-pk")[:limit])


def notification_get(*, notification_id: Any) -> Notification | None:
    return Notification.objects.filter(pk=notification_id).first()


def notification_attempts(*, notification_id: Any) -> list[NotificationAttempt]:
    return list(NotificationAttempt.objects.filter(notification_id=notification_id).order_by("attempt", "pk"))


def webhook_list() -> list[WebhookEndpoint]:
    return list(WebhookEndpoint.objects.select_related("queue").order_by("name"))

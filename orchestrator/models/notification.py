from django.db import models


class NotificationStatus(models.TextChoices):
    PENDING = "pending"
    DELIVERED = "delivered"
    DEAD = "dead"  # gave up after the bounded retries; listed for manual redelivery


class Notification(models.Model):
    """A message to a person or a system, committed with the event that caused it and sent by Celery."""

    channel = models.CharField(max_length=20, default="email")  # email | webhook
    target = models.CharField(max_length=500)  # an email address, or a webhook endpoint name
    event = models.CharField(max_length=60)
    subject = models.CharField(max_length=300, blank=True, default="")
    body = models.TextField(blank=True, default="")
    payload = models.JSONField(default=dict, blank=True)
    dedupe_key = models.CharField(max_length=300, unique=True)
    decision_id = models.UUIDField(null=True, blank=True)
    status = models.CharField(max_length=20, choices=NotificationStatus.choices, default=NotificationStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            models.Index(fields=["next_attempt_at"], name="notification_due", condition=models.Q(status="pending")),
        ]

    def __str__(self) -> str:
        return f"{self.channel}:{self.target} {self.event}"

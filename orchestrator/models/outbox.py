from django.db import models


class OutboxTopic(models.TextChoices):
    WORKFLOW_START = "workflow.start"
    VERDICT = "verdict"


class Outbox(models.Model):
    """A message to Temporal committed with the change that caused it; relayed after commit until acked."""

    topic = models.CharField(max_length=50, choices=OutboxTopic.choices)
    key = models.CharField(max_length=200)
    payload = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    abandoned_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["topic", "key"], name="outbox_topic_key")]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                name="outbox_pending",
                condition=models.Q(delivered_at__isnull=True, abandoned_at__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.topic}:{self.key}"

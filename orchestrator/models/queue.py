from django.conf import settings
from django.contrib.auth.models import Group
from django.db import models


class Queue(models.Model):
    """A human review queue: who works it, who supervises it, and how its tasks are reviewed."""

    slug = models.SlugField(max_length=100, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="review_queues", blank=True)
    member_groups = models.ManyToManyField(Group, related_name="review_queues", blank=True)
    supervisors = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="supervised_queues", blank=True)
    supervisor_groups = models.ManyToManyField(Group, related_name="supervised_queues", blank=True)
    escalation_target = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="escalated_from"
    )
    adjudication_queue = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="adjudicates_for"
    )
    default_sla_seconds = models.PositiveIntegerField(null=True, blank=True)
    # [{"code": "income_mismatch", "label": "Income does not match", "verdicts": ["reject", "modify"]}]
    reason_codes = models.JSONField(default=list, blank=True)
    blind_review = models.BooleanField(default=False)
    wip_cap = models.PositiveIntegerField(default=0, help_text="open tasks one reviewer may hold; 0 = no cap")
    allow_bulk_approve = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.slug

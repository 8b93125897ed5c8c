from django.conf import settings
from django.db import models


class Queue(models.Model):
    """A human review queue: who may work it and who supervises it."""

    slug = models.SlugField(max_length=100, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="review_queues", blank=True)
    supervisors = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="supervised_queues", blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.slug

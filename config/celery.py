"""The Celery app: side jobs only (outbox relay, sweeps, notifications). Configured from Django settings."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("handrail")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["orchestrator"])

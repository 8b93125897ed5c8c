"""Celery tasks of the audit trail: periodic checkpoints (beat) and export jobs. Thin: they call services."""

import logging
from datetime import timedelta

from celery import shared_task
from django.utils import timezone

from orchestrator.audit.checkpoints import audit_checkpoint_create
from orchestrator.audit.services import audit_export_run, audit_exports_expire
from orchestrator.models import AuditExport, AuditExportStatus

logger = logging.getLogger(__name__)


@shared_task(name="orchestrator.audit_export_run", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def audit_export_run_task(export_id: str) -> str:
    return str(audit_export_run(export_id=export_id).status)


@shared_task(name="orchestrator.audit_checkpoint", acks_late=True, ignore_result=True)
def audit_checkpoint_task() -> int | None:
    """Seal the trail; also start export jobs whose enqueue was lost, and delete expired bundles."""
    checkpoint = audit_checkpoint_create()
    stale = timezone.now() - timedelta(minutes=2)
    for export_id in AuditExport.objects.filter(status=AuditExportStatus.QUEUED, created_at__lt=stale).values_list(
        "id", flat=True
    ):
        audit_export_run_task.delay(str(export_id))
    audit_exports_expire()
    return checkpoint.id if checkpoint else None

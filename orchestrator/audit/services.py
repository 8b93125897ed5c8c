"""Audit-trail writes: export jobs and their downloads, legal holds. Each one is itself audited."""

import logging
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core import signing
from django.db import connections, transaction
from django.utils import timezone

from orchestrator.audit.chain import audit_append
from orchestrator.audit.export import ExportFilters, export_bundle
from orchestrator.errors import ConflictError, NotFound, PermissionDenied, ValidationFailed
from orchestrator.models import AuditCheckpoint, AuditExport, AuditExportStatus, LegalHold
from orchestrator.selectors.users import ROLE_COMPLIANCE, user_has_role

logger = logging.getLogger(__name__)

_LINK_SALT = "handrail.audit.export.download"


def _require_compliance(user: Any) -> None:
    if not user_has_role(user=user, role=ROLE_COMPLIANCE):
        raise PermissionDenied("audit exports need the compliance role", field="user")


@transaction.atomic
def audit_export_request(*, requested_by: Any, filters: ExportFilters, enqueue: bool = True) -> AuditExport:
    """Queue an export job (a signed bundle built by Celery). Needs the compliance role."""
    _require_compliance(requested_by)
    if filters.since and filters.until and filters.since >= filters.until:
        raise ValidationFailed("since must be before until", field="since")
    export = AuditExport.objects.create(
        id=uuid.uuid4(), requested_by=requested_by, filters=filters.to_json(), created_at=timezone.now()
    )
    audit_append(
        kind="audit.export.requested",
        actor=requested_by,
        subject_type="audit_export",
        subject_id=str(export.id),
        data={"export_id": str(export.id), "filters": export.filters},
    )
    if enqueue:
        from orchestrator.audit.tasks import audit_export_run_task

        def send() -> None:
            try:
                audit_export_run_task.delay(str(export.id))
            except Exception:  # the broker is away: the periodic sweep picks queued jobs up
                logger.warning("could not enqueue audit export %s; the sweep will run it", export.id)

        transaction.on_commit(send)
    return export


def _progress_writer(export_id: uuid.UUID) -> tuple[Any, Any]:
    """Progress goes through a second connection: the job's own is busy streaming COPY output."""
    side = connections.create_connection("default")

    def write(rows: int) -> None:
        with side.cursor() as cursor:
            cursor.execute(f"UPDATE {AuditExport._meta.db_table} SET rows_done = %s WHERE id = %s", [rows, export_id])

    return write, side


def audit_export_run(*, export_id: str) -> AuditExport:
    """Build the bundle of a queued export. Idempotent: a finished job is returned as it is."""
    with transaction.atomic():
        export = AuditExport.objects.select_for_update().filter(pk=export_id).first()
        if export is None:
            raise NotFound(f"export {export_id} does not exist", field="export_id")
        if export.status in (AuditExportStatus.DONE, AuditExportStatus.FAILED):
            return export
        export.status = AuditExportStatus.RUNNING
        export.save(update_fields=["status"])
    filters = ExportFilters.from_json(export.filters)
    write, side = _progress_writer(export.id)
    try:
        result = export_bundle(
            filters=filters,
            directory=Path(settings.HANDRAIL_AUDIT_EXPORT_DIR),
            name=f"audit-export-{export.id}",
            export_id=str(export.id),
            requested_by=export.requested_by.get_username() if export.requested_by else "",
            progress=write,
        )
    except Exception as exc:
        logger.exception("audit export %s failed", export.id)
        with transaction.atomic():
            AuditExport.objects.filter(pk=export.id).update(
                status=AuditExportStatus.FAILED, error=str(exc)[:2000], finished_at=timezone.now()
            )
            audit_append(
                kind="audit.export.failed",
                actor="system",
                outcome="error",
                subject_type="audit_export",
                subject_id=str(export.id),
                data={"export_id": str(export.id), "error": type(exc).__name__},
            )
        raise
    finally:
        side.close()
    with transaction.atomic():
        now = timezone.now()
        AuditExport.objects.filter(pk=export.id).update(
            status=AuditExportStatus.DONE,
            rows_total=result.events,
            rows_done=result.events,
            file_path=str(result.path),
            sha256=result.sha256,
            size_bytes=result.size_bytes,
            checkpoint=AuditCheckpoint.objects.get(pk=result.checkpoint_id),
            finished_at=now,
            expires_at=now + timedelta(seconds=settings.HANDRAIL_AUDIT_EXPORT_TTL_SECONDS),
        )
        audit_append(
            kind="audit.export.generated",
            actor="system",
            subject_type="audit_export",
            subject_id=str(export.id),
            data={
                "export_id": str(export.id),
                "events": result.events,
                "sha256": result.sha256,
                "bytes": result.size_bytes,
                "checkpoint": result.manifest["sealed_by"],
            },
        )
    export.refresh_from_db()
    return export


def audit_export_download_token(*, export: AuditExport, user: Any) -> str:
    """A short-lived token for one user to download one finished export."""
    return signing.TimestampSigner(salt=_LINK_SALT).sign(f"{export.id}:{user.pk}")


def audit_export_authorize_download(*, export_id: uuid.UUID, token: str) -> tuple[AuditExport, Any]:
    """Check a download token; refuse expired links, other exports, users who lost the role."""
    from django.contrib.auth import get_user_model

    try:
        value = signing.TimestampSigner(salt=_LINK_SALT).unsign(
            token, max_age=settings.HANDRAIL_AUDIT_DOWNLOAD_LINK_SECONDS
        )
    except signing.SignatureExpired as exc:
        raise PermissionDenied("the download link has expired; ask for a new one", field="token") from exc
    except signing.BadSignature as exc:
        raise PermissionDenied("the download link is not valid", field="token") from exc
    linked_export, _, user_id = value.partition(":")
    if linked_export != str(export_id):
        raise PermissionDenied("the download link is for another export", field="token")
    user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
    _require_compliance(user)
    export = AuditExport.objects.filter(pk=export_id).first()
    if export is None:
        raise NotFound(f"export {export_id} does not exist", field="export_id")
    if export.status != AuditExportStatus.DONE or not export.file_path:
        raise ConflictError(f"export {export_id} is {export.status}", field="export_id", status=export.status)
    if export.expires_at and export.expires_at <= timezone.now() or not Path(export.file_path).exists():
        raise ConflictError(f"export {export_id} has expired", field="export_id")
    return export, user


@transaction.atomic
def audit_export_record_download(*, export: AuditExport, user: Any) -> None:
    audit_append(
        kind="audit.export.downloaded",
        actor=user,
        subject_type="audit_export",
        subject_id=str(export.id),
        data={"export_id": str(export.id), "sha256": export.sha256},
    )


def audit_exports_expire(*, now: Any = None) -> int:
    """Delete bundle files whose links have expired (the job row and its audit events stay)."""
    now = now or timezone.now()
    removed = 0
    for export in AuditExport.objects.filter(status=AuditExportStatus.DONE, expires_at__lte=now).exclude(file_path=""):
        Path(export.file_path).unlink(missing_ok=True)
        AuditExport.objects.filter(pk=export.pk).update(file_path="")
        removed += 1
    return removed


@transaction.atomic
def legal_hold_create(*, created_by: Any, reason: str, flow: str = "", decision_id: Any = None) -> LegalHold:
    _require_compliance(created_by)
    if not reason.strip():
        raise ValidationFailed("a legal hold needs a reason", field="reason")
    hold = LegalHold.objects.create(
        reason=reason,
        flow=flow,
        decision_id=decision_id,
        created_by=created_by.get_username(),
        created_at=timezone.now(),
    )
    audit_append(
        kind="audit.legal_hold.placed",
        actor=created_by,
        subject_type="legal_hold",
        subject_id=str(hold.pk),
        data={"reason": reason, "flow": flow, "decision_id": str(decision_id) if decision_id else None},
    )
    return hold


@transaction.atomic
def legal_hold_release(*, hold_id: int, released_by: Any) -> LegalHold:
    _require_compliance(released_by)
    hold = LegalHold.objects.select_for_update().filter(pk=hold_id, released_at__isnull=True).first()
    if hold is None:
        raise NotFound(f"no active legal hold {hold_id}", field="hold_id")
    hold.released_at = timezone.now()
    hold.released_by = released_by.get_username()
    hold.save(update_fields=["released_at", "released_by"])
    audit_append(
        kind="audit.legal_hold.released",
        actor=released_by,
        subject_type="legal_hold",
        subject_id=str(hold.pk),
        data={"reason": hold.reason},
    )
    return hold


@transaction.atomic
def audit_export_record_stream(*, user: Any, filters: ExportFilters, fmt: str) -> None:
    """A streamed (CSV/JSONL) export is requested and downloaded at once: one audit event records it."""
    _require_compliance(user)
    audit_append(
        kind="audit.export.downloaded",
        actor=user,
        subject_type="audit_export",
        subject_id="stream",
        data={"format": fmt, "filters": filters.to_json(), "streamed": True},
    )


@transaction.atomic
def audit_export_record_local(*, actor: str, fmt: str, filters: ExportFilters, events: int | None, sha256: str) -> None:
    """An export written from the command line (an operator with shell access) is audited too."""
    audit_append(
        kind="audit.export.generated",
        actor=actor,
        subject_type="audit_export",
        subject_id="cli",
        data={"format": fmt, "filters": filters.to_json(), "events": events, "sha256": sha256, "cli": True},
    )

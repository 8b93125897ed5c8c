"""Audit-trail reads: verification status, export jobs, streamed exports."""

from collections.abc import Iterator
from typing import Any
from uuid import UUID

from django.db.models import F

from orchestrator.audit.chain import audit_verify
from orchestrator.audit.export import ExportFilters, export_blocks
from orchestrator.audit.signing import current_key_id
from orchestrator.models import AuditCheckpoint, AuditEvent, AuditExport, LegalHold


def audit_status() -> dict[str, Any]:
    """Verify the trail now; what the API and UI show."""
    breaks = audit_verify()
    latest = AuditCheckpoint.objects.order_by("-id").first()
    return {
        "intact": not breaks,
        "events": AuditEvent.objects.count(),
        "checkpoints": AuditCheckpoint.objects.count(),
        "latest_checkpoint": latest.hash if latest else None,
        "key_id": current_key_id(),
        "breaks": [
            {
                "partition": b.partition,
                "seq": b.seq,
                "event_id": b.event_id,
                "checkpoint_id": b.checkpoint_id,
                "reason": b.reason,
            }
            for b in breaks
        ],
    }


def audit_export_get(*, export_id: UUID) -> AuditExport | None:
    return AuditExport.objects.filter(pk=export_id).first()


def stream_export(*, filters: ExportFilters, fmt: str) -> Iterator[bytes]:
    """CSV or JSONL blocks straight from `COPY … TO STDOUT`: memory stays flat whatever the range."""
    return export_blocks(filters=filters, fmt=fmt)


def legal_holds_list() -> list[LegalHold]:
    """Every legal hold, active ones first, newest first."""
    return list(LegalHold.objects.order_by(F("released_at").desc(nulls_first=True), "-created_at"))

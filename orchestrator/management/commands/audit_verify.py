"""`manage.py audit_verify`: check chains, seq gaps, checkpoints and signatures; exit 1 naming each first break."""

import sys
import time

from django.core.management.base import BaseCommand

from orchestrator.audit.chain import audit_verify
from orchestrator.models import AuditCheckpoint, AuditEvent


class Command(BaseCommand):
    help = "Verify the audit trail: hash chains, seq gaps, signed checkpoints (and their file copies), tombstones."

    def handle(self, *args: object, **options: object) -> None:
        started = time.monotonic()
        breaks = audit_verify()
        elapsed = time.monotonic() - started
        total = AuditEvent.objects.count()
        checkpoints = AuditCheckpoint.objects.count()
        if not breaks:
            self.stdout.write(
                self.style.SUCCESS(
                    f"audit trail intact: {total} events verified, {checkpoints} signed checkpoints ({elapsed:.1f} s)"
                )
            )
            return
        for brk in breaks:
            where = f"partition {brk.partition}" if brk.partition >= 0 else "checkpoints"
            self.stderr.write(f"{where}: broken at seq {brk.seq} (event id {brk.event_id}): {brk.reason}")
        sys.exit(1)

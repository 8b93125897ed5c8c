"""`manage.py audit_verify`: walk every audit hash chain; exit 1 naming the first broken event of each."""

import sys

from django.core.management.base import BaseCommand

from orchestrator.audit.chain import audit_verify
from orchestrator.models import AuditEvent


class Command(BaseCommand):
    help = "Verify the audit trail's hash chains (seq gaps, edited, deleted, reordered or inserted rows)."

    def handle(self, *args: object, **options: object) -> None:
        breaks = audit_verify()
        total = AuditEvent.objects.count()
        if not breaks:
            self.stdout.write(self.style.SUCCESS(f"audit trail intact: {total} events verified"))
            return
        for brk in breaks:
            self.stderr.write(
                f"partition {brk.partition}: broken at seq {brk.seq} (event id {brk.event_id}): {brk.reason}"
            )
        sys.exit(1)

"""`manage.py audit_purge`: remove segments older than the retention class, leaving tombstones."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from orchestrator.audit.retention import LegalHoldError, audit_purge, audit_purge_plan


class Command(BaseCommand):
    help = "Purge audit segments sealed by a checkpoint older than HANDRAIL_AUDIT_RETENTION_DAYS (never under hold)."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("--dry-run", action="store_true", help="show what would be purged")

    def handle(self, *args: object, **options: object) -> None:
        days = settings.HANDRAIL_AUDIT_RETENTION_DAYS
        if options["dry_run"]:
            plan = audit_purge_plan()
            self.stdout.write(f"retention {days} days: {plan.events} events in {len(plan.ranges)} segments due")
            return
        try:
            plan = audit_purge(requested_by="audit_purge")
        except LegalHoldError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"retention {days} days: purged {plan.events} events in {len(plan.ranges)} segments")

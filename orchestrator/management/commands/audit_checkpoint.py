"""`manage.py audit_checkpoint`: seal every partition head now with a signed checkpoint."""

from django.core.management.base import BaseCommand

from orchestrator.audit.checkpoints import audit_checkpoint_create
from orchestrator.audit.signing import public_key_pem


class Command(BaseCommand):
    help = "Create a signed audit checkpoint (also written under HANDRAIL_AUDIT_CHECKPOINT_DIR)."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("--force", action="store_true", help="seal even when nothing was appended")
        parser.add_argument("--public-key", action="store_true", help="print the verifying public key (PEM) and exit")

    def handle(self, *args: object, **options: object) -> None:
        if options["public_key"]:
            self.stdout.write(public_key_pem().decode(), ending="")
            return
        checkpoint = audit_checkpoint_create(force=bool(options["force"]))
        if checkpoint is None:
            self.stdout.write("nothing appended since the last checkpoint")
            return
        self.stdout.write(
            f"checkpoint {checkpoint.id}: {checkpoint.events_total} events, root {checkpoint.heads_root}, "
            f"file {checkpoint.file_path}"
        )

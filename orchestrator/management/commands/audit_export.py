"""`manage.py audit_export`: write the audit trail (filtered) as CSV, JSONL or a signed bundle."""

import getpass
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from orchestrator.audit.export import ExportFilters, export_bundle, export_csv, export_jsonl
from orchestrator.audit.services import audit_export_record_local


def _operator() -> str:
    return f"cli:{getpass.getuser()}"


def _time(value: str) -> datetime:
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError("give a UTC offset, e.g. 2025-01-01T00:00:00Z")
    return moment


class Command(BaseCommand):
    help = "Export audit events: --format csv|jsonl to --output (or stdout), or --format bundle to a signed zip."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("--format", choices=["csv", "jsonl", "bundle"], default="bundle")
        parser.add_argument("--output", default="-", help="file (csv/jsonl; '-' = stdout) or directory (bundle)")
        parser.add_argument("--since", type=_time)
        parser.add_argument("--until", type=_time, help="exclusive")
        for name in ("flow", "decision", "actor", "queue", "action", "outcome", "policy-version", "model-version"):
            parser.add_argument(f"--{name}", default="")

    def handle(self, *args: Any, **options: Any) -> None:
        filters = ExportFilters.from_params(options)
        if options["format"] == "bundle":
            if options["output"] == "-":
                raise CommandError("--output must name a directory for a bundle")
            name = f"audit-export-{datetime.now():%Y%m%dT%H%M%S}"
            result = export_bundle(filters=filters, directory=Path(options["output"]), name=name, requested_by="cli")
            audit_export_record_local(
                actor=_operator(), fmt="bundle", filters=filters, events=result.events, sha256=result.sha256
            )
            self.stdout.write(f"bundle {result.path}: {result.events} events, sha256 {result.sha256}")
            return
        audit_export_record_local(actor=_operator(), fmt=options["format"], filters=filters, events=None, sha256="")
        writer = export_csv if options["format"] == "csv" else export_jsonl
        started = time.monotonic()
        if options["output"] == "-":
            writer(filters=filters, out=sys.stdout.buffer)
            sys.stdout.buffer.flush()
        else:
            with open(options["output"], "wb") as handle:
                writer(filters=filters, out=handle)
        elapsed = time.monotonic() - started
        self.stderr.write(f"exported in {elapsed:.3f} s")

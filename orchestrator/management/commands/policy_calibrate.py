"""`manage.py policy_calibrate --flow F --author USER [--label L] [--target-error E]`: reliability table and a
recommended threshold, saved as a draft version authored by USER (never activated)."""

import json
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from orchestrator.errors import DomainError
from orchestrator.management.commands.policy_backtest import parse_when
from orchestrator.services.calibration import policy_calibrate


class Command(BaseCommand):
    help = "Calibrate a flow's confidence against reviewer outcomes; save a recommended threshold as a draft."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("--flow", required=True)
        parser.add_argument("--author", required=True, help="username of the supervisor or compliance officer")
        parser.add_argument("--label", help="calibrate one output label only")
        parser.add_argument("--since")
        parser.add_argument("--until")
        parser.add_argument("--target-error", type=float, default=0.02)
        parser.add_argument("--level", type=float, default=0.95)
        parser.add_argument("--min-support", type=int, default=30)
        parser.add_argument("--bins", type=int, default=10)
        parser.add_argument("--no-draft", action="store_true", help="report only; save no draft")

    def handle(self, *args: Any, **options: Any) -> None:
        author = get_user_model().objects.filter(username=options["author"]).first()
        if author is None:
            raise CommandError(f"--author: no user {options['author']!r}")
        try:
            report, draft = policy_calibrate(
                flow=options["flow"],
                author=author,
                label=options["label"],
                since=parse_when(options["since"], "since"),
                until=parse_when(options["until"], "until"),
                target_error=options["target_error"],
                level=options["level"],
                min_support=options["min_support"],
                bins=options["bins"],
                save_draft=not options["no_draft"],
            )
        except DomainError as exc:
            raise CommandError(f"{exc.field}: {exc.reason}") from exc
        report.pop("curve", None)
        report["draft_version"] = draft.version if draft else None
        self.stdout.write(json.dumps(report, indent=2, sort_keys=True))

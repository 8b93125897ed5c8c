"""`manage.py policy_backtest --flow F (--policy-version N | --spec FILE)`: the backtest report as JSON."""

import json
from datetime import datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from orchestrator.errors import DomainError
from orchestrator.selectors.policies import policy_get_version
from orchestrator.services.backtest import policy_backtest


def parse_when(value: str | None, name: str) -> datetime | None:
    if not value:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(f"--{name}: not an ISO 8601 time: {value!r}") from exc
    if when.tzinfo is None:
        raise CommandError(f"--{name}: give a time zone (e.g. 2026-01-01T00:00:00+00:00)")
    return when


class Command(BaseCommand):
    help = "Run a policy version or a spec file over the flow's stored decisions and print what would have happened."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("--flow", required=True)
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--policy-version", type=int, help="a stored version of the flow's policy (e.g. a draft)")
        source.add_argument("--spec", help="a JSON file holding a policy spec")
        parser.add_argument("--since", help="ISO 8601 time, inclusive")
        parser.add_argument("--until", help="ISO 8601 time, exclusive")
        parser.add_argument("--level", type=float, default=0.95, help="confidence level of the error bound")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["policy_version"] is not None:
            policy = policy_get_version(flow=options["flow"], version=options["policy_version"])
            if policy is None:
                raise CommandError(f"flow {options['flow']!r} has no policy version {options['policy_version']}")
            spec = policy.spec
        else:
            try:
                with open(options["spec"]) as handle:
                    spec = json.load(handle)
            except (OSError, ValueError) as exc:
                raise CommandError(f"--spec: {exc}") from exc
        try:
            report = policy_backtest(
                flow=options["flow"],
                spec=spec,
                since=parse_when(options["since"], "since"),
                until=parse_when(options["until"], "until"),
                level=options["level"],
            )
        except DomainError as exc:
            raise CommandError(f"{exc.field}: {exc.reason}") from exc
        self.stdout.write(json.dumps(report, indent=2, sort_keys=True))

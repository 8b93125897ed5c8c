"""`manage.py bench <area>`: measure an area against the configured (or embedded) servers.

Prints figures as it goes and ends with one line of JSON holding them. Areas are the modules of
`orchestrator.bench` that define `run(options: dict) -> dict`.
"""

import importlib
import json
import pkgutil
from typing import Any

from django.core.management.base import BaseCommand, CommandError

import orchestrator.bench


def _areas() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(orchestrator.bench.__path__) if not m.name.startswith("_"))


class Command(BaseCommand):
    help = "Run a benchmark area (see `manage.py bench --list`) and print one JSON line of figures."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("area", nargs="?", help="which benchmark to run")
        parser.add_argument("--list", action="store_true", help="list the areas")
        parser.add_argument("--scale", type=float, default=1.0, help="scale the workload (e.g. 0.1 for a smoke run)")

    def handle(self, *args: Any, **options: Any) -> None:
        areas = _areas()
        if options["list"] or not options["area"]:
            self.stdout.write("\n".join(areas))
            return
        if options["area"] not in areas:
            raise CommandError(f"unknown area {options['area']!r}; one of: {', '.join(areas)}")
        module = importlib.import_module(f"orchestrator.bench.{options['area']}")
        figures = module.run({"scale": options["scale"], "stdout": self.stdout})
        self.stdout.write(json.dumps(figures, sort_keys=True))

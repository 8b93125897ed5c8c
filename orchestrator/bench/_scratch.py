"""What the benchmarks share: a scratch database (created from the configured server, migrated,
dropped after), work in forked processes, percentiles."""

import contextlib
import multiprocessing
import uuid
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import psycopg
from django.conf import settings
from django.core.management import call_command
from django.db import connection, connections

T = TypeVar("T")


def _admin_conninfo() -> dict[str, Any]:
    db = settings.DATABASES["default"]
    return {
        "host": db.get("HOST") or None,
        "port": db.get("PORT") or None,
        "user": db.get("USER") or None,
        "password": db.get("PASSWORD") or None,
        "dbname": db.get("NAME"),
    }


@contextlib.contextmanager
def scratch_database(prefix: str) -> Iterator[str]:
    """Point Django's default connection at a fresh, migrated database; drop it afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    info = {k: v for k, v in _admin_conninfo().items() if v is not None}
    with psycopg.connect(**info, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    original = settings.DATABASES["default"]["NAME"]
    connections.close_all()
    settings.DATABASES["default"]["NAME"] = name
    connections["default"].settings_dict["NAME"] = name
    try:
        call_command("migrate", verbosity=0, interactive=False)
        with connection.cursor() as cursor:
            cursor.execute("SET handrail.allow_audit_truncate = 'on'")
        yield name
    finally:
        connections.close_all()
        settings.DATABASES["default"]["NAME"] = original
        connections["default"].settings_dict["NAME"] = original
        with psycopg.connect(**info, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def percentile(samples: list[float], p: float) -> float:
    if not samples:
        return 0.0
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[index]


def forked(count: int, work: Callable[[int], T], timeout: float | None = None) -> list[T]:
    """Run `work(0)` … `work(count - 1)` in forked processes (like web workers, each with its own
    database connection) and return what each returned, in the order they finished."""
    connections.close_all()  # a child must not inherit the parent's open connection
    context = multiprocessing.get_context("fork")
    results = context.Queue()

    def child(index: int) -> None:
        try:
            results.put(work(index))
        finally:
            connections.close_all()

    processes = [context.Process(target=child, args=(i,)) for i in range(count)]
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=timeout) for _ in processes]
    for process in processes:
        process.join()
    return outcomes

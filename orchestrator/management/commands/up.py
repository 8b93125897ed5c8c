"""`manage.py up`: run the whole of Handrail on this machine, in the foreground, until Ctrl-C.

Where DATABASE_URL, REDIS_URL or TEMPORAL_ADDRESS is unset, a real embedded server is started for it
with its data under HANDRAIL_HOME (see config/embedded.py). Then: migrate, seed the demo data, start
the web server, the Temporal worker, Celery worker and beat as child processes, each logging to
HANDRAIL_HOME/logs/<name>.log, and watch them. Ctrl-C or SIGTERM stops everything it started.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import IO, Any

from django.conf import settings
from django.core.management import call_command, get_commands
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connections

from config import embedded

HEALTH_PATH = "/api/v1/health"
STOP_TIMEOUT_SECONDS = 15.0
POLL_SECONDS = 0.25
HANDLED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class _StopRequested(BaseException):
    """Raised by the signal handler so a wait, a migration or the supervision loop ends at once."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


@dataclass
class _Child:
    name: str
    log_path: Path
    process: subprocess.Popen[bytes]
    log: IO[bytes]
    log_start: int  # where this run's lines begin in log_path

    def tail(self) -> str:
        return embedded.log_tail(self.log_path, 40, since=self.log_start)


class Command(BaseCommand):
    help = (
        "Run Handrail here: embedded Postgres, Redis and Temporal where no URL is configured, "
        "migrations, demo data, web server, Temporal worker, Celery worker and beat. Ctrl-C stops all."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, default=None, help="web server port (default: $PORT or 8000)")
        parser.add_argument("--no-celery", action="store_true", help="do not start the Celery worker and beat")
        parser.add_argument(
            "--startup-timeout",
            type=float,
            default=90.0,
            help=f"seconds to wait for the web server to answer {HEALTH_PATH} (default 90)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        home = Path(settings.HANDRAIL_HOME)
        logs = home / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        port = options["port"] or int(os.environ.get("PORT", "8000"))
        missing = sorted({"seed_demo", "worker"} - set(get_commands()))
        if missing:
            raise CommandError(f"`manage.py up` needs the management command(s) {', '.join(missing)}, not installed")
        lock = self._lock_home(home)

        self._children: list[_Child] = []
        self._redis: embedded.RedisServer | None = None
        self._temporal: embedded.TemporalServer | None = None
        self._stopping = False
        previous = {sig: signal.signal(sig, self._on_signal) for sig in HANDLED_SIGNALS}
        try:
            env = self._start_services(home, port)
            self._migrate_and_seed(options["verbosity"])
            self._start_children(home, env, port, celery=not options["no_celery"])
            self._wait_until_healthy(port, options["startup_timeout"])
            self._print_urls(home, port, env)
            self._supervise()
        except _StopRequested as stop:
            self.stdout.write(f"\n{signal.Signals(stop.signum).name} received: stopping Handrail")
        finally:
            self._stopping = True  # a second Ctrl-C must not cut the cleanup short
            self._stop_everything(home)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            lock.close()
        self.stdout.write(self.style.SUCCESS("Handrail stopped."))

    # --- start ------------------------------------------------------------------------------------

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self._stopping:
            self.stderr.write(f"{signal.Signals(signum).name}: already stopping, please wait")
            return
        raise _StopRequested(signum)

    def _lock_home(self, home: Path) -> IO[str]:
        """One `up` per HANDRAIL_HOME: a second would fight the first over ports and data files."""
        lock = (home / "up.lock").open("a+")  # not "w": that would blank the holder's pid before we know
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            lock.seek(0)
            holder = lock.read().strip() or "?"
            lock.close()
            raise CommandError(f"`manage.py up` is already running (pid {holder}) with HANDRAIL_HOME={home}") from None
        lock.truncate(0)
        lock.write(str(os.getpid()))
        lock.flush()
        return lock

    def _start_services(self, home: Path, port: int) -> dict[str, str]:
        """Start the embedded servers that no URL names; return the environment for the children."""
        if embedded.port_accepts("127.0.0.1", port):
            raise CommandError(f"port {port} is already in use: pass --port or set PORT")
        env = dict(os.environ)
        env["HANDRAIL_HOME"] = str(home)
        env["PYTHONUNBUFFERED"] = "1"

        # settings.py has started the embedded Postgres (and set DATABASE_URL) if DATABASE_URL was unset.
        env["DATABASE_URL"] = os.environ.get("DATABASE_URL") or embedded.ensure_postgres(home)
        where = f"embedded, data in {home / 'pg'}" if embedded.postgres_held(home) else "DATABASE_URL"
        self.stdout.write(f"Postgres  {where}")

        try:
            if os.environ.get("REDIS_URL"):
                env["REDIS_URL"] = os.environ["REDIS_URL"]
                self.stdout.write("Redis     REDIS_URL")
            else:
                self._redis = embedded.ensure_redis(home)
                env["REDIS_URL"] = self._redis.url
                self.stdout.write(f"Redis     embedded, data in {home / 'redis'}")

            if os.environ.get("TEMPORAL_ADDRESS"):
                env["TEMPORAL_ADDRESS"] = os.environ["TEMPORAL_ADDRESS"]
                env["TEMPORAL_UI_URL"] = os.environ.get("TEMPORAL_UI_URL", settings.TEMPORAL_UI_URL)
                self.stdout.write("Temporal  TEMPORAL_ADDRESS")
            else:
                self._temporal = embedded.start_temporal(
                    home,
                    int(os.environ.get("HANDRAIL_TEMPORAL_PORT", "7233")),
                    int(os.environ.get("HANDRAIL_TEMPORAL_UI_PORT", "8233")),
                )
                env["TEMPORAL_ADDRESS"] = self._temporal.address
                env["TEMPORAL_UI_URL"] = self._temporal.ui_url or ""
                self.stdout.write(f"Temporal  embedded dev server, data in {home / 'temporal.db'}")
        except (RuntimeError, OSError) as exc:
            raise CommandError(str(exc)) from exc

        # This process runs seed_demo next; let it reach the same servers as the children.
        settings.TEMPORAL_ADDRESS = env["TEMPORAL_ADDRESS"]
        settings.TEMPORAL_UI_URL = env["TEMPORAL_UI_URL"]
        os.environ.update({k: env[k] for k in ("REDIS_URL", "TEMPORAL_ADDRESS", "TEMPORAL_UI_URL")})
        return env

    def _migrate_and_seed(self, verbosity: int) -> None:
        call_command("migrate", interactive=False, verbosity=verbosity)
        call_command("seed_demo", verbosity=verbosity)
        connections.close_all()  # the children open their own

    def _start_children(self, home: Path, env: dict[str, str], port: int, *, celery: bool) -> None:
        python = sys.executable
        manage = str(Path(settings.BASE_DIR) / "manage.py")
        commands = {
            "web": [
                python, "-m", "gunicorn", "config.wsgi:application",
                "--bind", f"127.0.0.1:{port}",
                "--workers", "2", "--threads", "4", "--timeout", "60",
                "--graceful-timeout", str(int(STOP_TIMEOUT_SECONDS) - 5),
                "--access-logfile", "-",
            ],
            "temporal-worker": [python, manage, "worker"],
        }  # fmt: skip
        if celery:
            commands["celery-worker"] = [
                python, "-m", "celery", "-A", "config", "worker", "--loglevel", "INFO", "--concurrency", "2",
            ]  # fmt: skip
            commands["celery-beat"] = [
                python, "-m", "celery", "-A", "config", "beat", "--loglevel", "INFO",
                "--schedule", str(home / "celerybeat-schedule"),
            ]  # fmt: skip
        for name, command in commands.items():
            self._children.append(self._spawn(name, command, env, home / "logs" / f"{name}.log"))

    def _spawn(self, name: str, command: list[str], env: dict[str, str], log_path: Path) -> _Child:
        log = embedded.open_log(log_path, command)
        log_start = log.tell()
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=settings.BASE_DIR,
            env=env,
            start_new_session=True,  # Ctrl-C reaches only `up`, which stops the children in order
            preexec_fn=embedded.die_with_parent(),
        )
        return _Child(name=name, log_path=log_path, process=process, log=log, log_start=log_start)

    def _wait_until_healthy(self, port: int, timeout: float) -> None:
        url = f"http://127.0.0.1:{port}{HEALTH_PATH}"
        deadline = time.monotonic() + timeout
        while not _answers_200(url):
            self._check_children()
            if time.monotonic() > deadline:
                web = self._children[0]
                self.stderr.write(f"Last lines of {web.log_path}:\n{web.tail()}")
                raise CommandError(f"the web server did not answer {url} within {timeout:.0f} s")
            time.sleep(POLL_SECONDS)

    def _print_urls(self, home: Path, port: int, env: dict[str, str]) -> None:
        base = f"http://127.0.0.1:{port}"
        rows = [
            ("Review UI", f"{base}/"),
            ("API docs", f"{base}/api/docs/"),
            ("API schema", f"{base}/api/schema/"),
            ("Temporal UI", env.get("TEMPORAL_UI_URL") or "(not available)"),
            ("Logs", f"{home / 'logs'}{os.sep}"),
        ]
        self.stdout.write(self.style.SUCCESS("\nHandrail is up."))
        for label, value in rows:
            self.stdout.write(f"  {label:<12} {value}")
        self.stdout.write("Press Ctrl-C to stop.\n")
        self.stdout.flush()

    # --- run and stop -----------------------------------------------------------------------------

    def _supervise(self) -> None:
        while True:
            self._check_children()
            time.sleep(POLL_SECONDS * 2)

    def _check_children(self) -> None:
        for child in self._children:
            code = child.process.poll()
            if code is not None:
                self.stderr.write(
                    f"{child.name} exited unexpectedly (exit code {code}); stopping everything.\n"
                    f"Last lines of {child.log_path}:\n{child.tail()}"
                )
                raise CommandError(f"{child.name} exited unexpectedly (exit code {code})")

    def _stop_everything(self, home: Path) -> None:
        """Children first (they use the servers), then Temporal, Redis, Postgres: only what `up` started.

        Each step reports a failure and goes on, so one stuck process cannot orphan the rest.
        """
        if self._children:
            with self._step(f"stopped {', '.join(c.name for c in self._children)}"):
                embedded.stop_process_groups([c.process for c in self._children], STOP_TIMEOUT_SECONDS)
            for child in self._children:
                child.log.close()
        if self._temporal is not None:
            with self._step("stopped Temporal"):
                self._temporal.stop()
        if self._redis is not None:
            with self._step("stopped Redis"):
                self._redis.stop()
        if embedded.postgres_held(home):
            connections.close_all()
            with self._step(""):
                if embedded.release_postgres(home):
                    self.stdout.write("  stopped Postgres")
                else:
                    self.stdout.write("  Postgres keeps running: other processes still use it")

    @contextlib.contextmanager
    def _step(self, done: str) -> Iterator[None]:
        try:
            yield
        except Exception as exc:  # noqa: BLE001 - cleanup must reach every server
            self.stderr.write(f"  while stopping: {exc!r}")
        else:
            if done:
                self.stdout.write(f"  {done}")


def _answers_200(url: str) -> bool:
    with contextlib.suppress(urllib.error.URLError, OSError, ValueError):
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - our own local URL
            return response.status == 200
    return False

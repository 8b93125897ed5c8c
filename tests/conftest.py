"""Shared fixtures: real Postgres (pytest-django), real Redis, a real Temporal dev server and worker.

Where DATABASE_URL / REDIS_URL / TEMPORAL_ADDRESS are unset, the embedded servers are used (the
same ones `manage.py up` starts); CI sets the first two to the machine's Postgres and Redis.
"""

import os

# Activity threads must not keep connections to the test database open between activities.
os.environ.setdefault("DB_CONN_MAX_AGE", "0")
# Sync Playwright (tests/e2e) runs an event loop in the test thread, and the test still reads the database.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
# The suite's demo has the loan flow only (its tests count queues); tests of the other example flows
# register them with `settings.HANDRAIL_FLOWS` (tests/integration/test_example_flows.py). pytest-django
# has loaded the settings by now, so set both the setting and the environment (for subprocesses).
if "HANDRAIL_FLOWS" not in os.environ:
    from django.conf import settings as _settings

    os.environ["HANDRAIL_FLOWS"] = "workflows.examples.loan_approval.FLOW"
    _settings.HANDRAIL_FLOWS = ["workflows.examples.loan_approval.FLOW"]

import pytest  # noqa: E402
from django.db.backends.signals import connection_created  # noqa: E402

from orchestrator.temporal.inprocess import WorkerThread  # noqa: E402

pytest_plugins = ["orchestrator.testing"]  # the flow authors' fixtures: handrail, simulated_reviewer


def _allow_flush_of_audit(sender, connection, **kwargs):  # type: ignore[no-untyped-def]
    # pytest-django empties tables with TRUNCATE between transactional tests; the audit guard lets
    # that through only in sessions that ask (see migration 0002). Row edits stay refused.
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET handrail.allow_audit_truncate = 'on'")


connection_created.connect(_allow_flush_of_audit)


@pytest.fixture(scope="session", autouse=True)
def _no_stray_connections_at_teardown(django_db_setup, django_db_blocker):  # type: ignore[no-untyped-def]
    """Connections opened by worker and live-server threads must not block dropping the test database."""
    yield
    from django.db import connection

    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


@pytest.fixture
def temporal(handrail_temporal_address, settings):  # type: ignore[no-untyped-def]
    """Point the app at the test Temporal server (TEMPORAL_ADDRESS if set, else the session's dev server
    from `orchestrator.testing`), on a task queue of this test's own."""
    import uuid

    from orchestrator.temporal.client import gateway

    settings.TEMPORAL_ADDRESS = handrail_temporal_address
    settings.TEMPORAL_TASK_QUEUE = f"test-{uuid.uuid4().hex[:12]}"
    gateway.reset()
    yield settings
    gateway.reset()


@pytest.fixture
def worker(temporal, transactional_db):  # type: ignore[no-untyped-def]
    """A running Temporal worker (in a thread of this process) for this test's task queue."""
    thread = WorkerThread(address=temporal.TEMPORAL_ADDRESS, task_queue=temporal.TEMPORAL_TASK_QUEUE)
    thread.start()
    yield thread
    thread.stop()


@pytest.fixture
def demo(db):  # type: ignore[no-untyped-def]
    """The demo users, queues and policies, created through the seed service."""
    from django.contrib.auth import get_user_model

    from orchestrator.services.demo import demo_seed

    demo_seed()
    User = get_user_model()
    return {name: User.objects.get(username=name) for name in ("reviewer", "supervisor", "compliance", "demo-model")}


@pytest.fixture
def api_as():  # type: ignore[no-untyped-def]
    """An APIClient authenticated with the user's DRF token."""
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    def make(user):  # type: ignore[no-untyped-def]
        client = APIClient()
        token, _ = Token.objects.get_or_create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        return client

    return make


@pytest.fixture
def reviewer_client(client, demo):  # type: ignore[no-untyped-def]
    """Django's test client, logged in as the demo reviewer."""
    client.force_login(demo["reviewer"])
    return client


@pytest.fixture
def audit_dirs(settings, tmp_path):  # type: ignore[no-untyped-def]
    """A fresh audit signing key, and checkpoint and export folders under tmp_path (returned)."""
    from orchestrator.audit.signing import generate_private_key_b64

    settings.HANDRAIL_AUDIT_SIGNING_KEY = generate_private_key_b64()
    settings.HANDRAIL_AUDIT_CHECKPOINT_DIR = tmp_path / "checkpoints"
    settings.HANDRAIL_AUDIT_EXPORT_DIR = tmp_path / "exports"
    return tmp_path


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):  # type: ignore[no-untyped-def]
    # PBKDF2's deliberate slowness is for attackers, not for the suite.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

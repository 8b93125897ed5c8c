"""The audit trail refuses edits in Postgres, and the hash chain exposes edits made around the guard."""

import pytest
from django.db import connection, transaction
from django.db.utils import Error as DatabaseError

from orchestrator.audit.chain import audit_append, audit_verify
from orchestrator.models import AuditEvent
from tests.support.audit import append_events, superuser_sql

pytestmark = pytest.mark.django_db(transaction=True)


def _append(n: int, decision_id: str = "7b5e4bda-5a7e-4d8e-9a43-2b1f0f0c0d11") -> list[AuditEvent]:
    return append_events(n, decision_id)


def test_clean_chain_verifies():
    _append(5)
    assert audit_verify() == []


def test_update_and_delete_are_refused_by_postgres():
    event = _append(1)[0]
    for sql in (
        "UPDATE orchestrator_auditevent SET actor = 'mallory' WHERE id = %s",
        "DELETE FROM orchestrator_auditevent WHERE id = %s",
    ):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(sql, (event.id,))
    assert AuditEvent.objects.get(pk=event.id).actor == "tester"


def test_audit_append_outside_a_transaction_is_refused():
    with pytest.raises(RuntimeError, match="inside the transaction"):
        audit_append(kind="test.event", actor="tester")


def test_exception_before_commit_leaves_no_event():
    with pytest.raises(ZeroDivisionError), transaction.atomic():
        audit_append(kind="test.event", actor="tester", subject_id="x")
        1 / 0  # noqa: B018
    assert not AuditEvent.objects.filter(kind="test.event").exists()


def test_edited_body_is_detected_at_the_edited_event():
    events = _append(4)
    superuser_sql(
        "UPDATE orchestrator_auditevent SET body = replace(body, '\"i\":2', '\"i\":9') WHERE id = %s", (events[2].id,)
    )
    breaks = audit_verify()
    assert [(b.event_id, b.reason) for b in breaks] == [(events[2].id, "content does not match its hash")]


def test_edited_column_is_detected():
    events = _append(3)
    superuser_sql("UPDATE orchestrator_auditevent SET actor = 'mallory' WHERE id = %s", (events[1].id,))
    assert [(b.event_id, b.reason) for b in audit_verify()] == [(events[1].id, "columns differ from the hashed body")]


def test_deleted_event_is_detected_as_a_gap():
    events = _append(4)
    superuser_sql("DELETE FROM orchestrator_auditevent WHERE id = %s", (events[1].id,))
    (brk,) = audit_verify()
    assert brk.seq == events[1].seq
    assert "seq gap" in brk.reason


def test_deleted_tail_is_detected_against_the_chain_head():
    events = _append(3)
    superuser_sql("DELETE FROM orchestrator_auditevent WHERE id = %s", (events[2].id,))
    (brk,) = audit_verify()
    assert brk.reason == "chain head does not match the last event"


def test_swapped_events_are_detected():
    events = _append(3)
    a, b = events[0], events[1]
    superuser_sql(
        "UPDATE orchestrator_auditevent SET seq = -1 WHERE id = %s;"
        "UPDATE orchestrator_auditevent SET seq = %s WHERE id = %s;"
        "UPDATE orchestrator_auditevent SET seq = %s WHERE id = %s",
        (a.id, a.seq, b.id, b.seq, a.id),
    )
    (brk,) = audit_verify()
    assert brk.seq == a.seq


def test_the_append_is_prepared_once_per_connection():
    """The append runs as a server-side prepared statement (parsed and planned once); a
    connection setting that silently disables preparation would make every append re-plan."""
    _append(3)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT generic_plans + custom_plans FROM pg_prepared_statements WHERE statement LIKE %s AND NOT from_sql",
            ["%INSERT INTO orchestrator_auditevent%"],
        )
        executions = [row[0] for row in cursor.fetchall()]
    assert executions and sum(executions) >= 3

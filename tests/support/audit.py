"""Audit-trail test data: events appended through the real chain, and tampering around the guards."""

from django.db import connection, transaction

from orchestrator.audit.chain import audit_append
from orchestrator.models import AuditEvent


def append_events(n: int, decision_id: str, start: int = 0) -> list[AuditEvent]:
    """`n` test events for one decision, each appended in its own transaction."""
    events = []
    for i in range(start, start + n):
        with transaction.atomic():
            events.append(audit_append(kind="test.event", actor="tester", decision_id=decision_id, data={"i": i}))
    return events


def superuser_sql(sql: str, params: tuple = (), table: str = "orchestrator_auditevent") -> None:
    """Tamper the way an attacker with database superuser rights could: around the triggers."""
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
        try:
            cursor.execute(sql, params)
        finally:
            cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")

"""Tampering done around the guards (superuser SQL, triggers off) is detected; the app role cannot edit at all."""

import base64
import json
import uuid
from pathlib import Path

import psycopg
import pytest
from django.db import connection, transaction
from django.db.utils import Error as DatabaseError

from orchestrator.audit.canonical import canonical_bytes, link_hash
from orchestrator.audit.chain import audit_verify
from orchestrator.audit.checkpoints import audit_checkpoint_create
from orchestrator.audit.signing import generate_private_key_b64
from orchestrator.models import AuditCheckpoint, AuditEvent, Decision
from tests.support.audit import append_events, superuser_sql

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("audit_dirs")]

DECISION = "0b7a3f4e-52a1-4c1e-8a55-3f2a9c1d7e01"


def _append(n: int, decision_id: str = DECISION, start: int = 0) -> list[AuditEvent]:
    return append_events(n, decision_id, start)


def _reasons() -> list[str]:
    return [b.reason for b in audit_verify()]


def test_clean_chain_with_checkpoints_verifies(audit_dirs):
    _append(5)
    first = audit_checkpoint_create()
    _append(3, start=5)
    _append(2, decision_id=str(uuid.uuid4()))
    second = audit_checkpoint_create()
    assert first and second and second.prev_hash == first.hash
    assert audit_checkpoint_create() is None  # nothing new to seal
    assert audit_verify() == []
    on_file = json.loads(Path(second.file_path).read_bytes())
    assert on_file["statement"] == second.statement and on_file["signature"] == second.signature
    assert Path(second.file_path).is_relative_to(audit_dirs / "checkpoints")


def test_one_edited_byte_is_detected_at_that_event():
    events = _append(4)
    audit_checkpoint_create()
    superuser_sql(
        "UPDATE orchestrator_auditevent SET body = overlay(body placing 'X' from 20 for 1) WHERE id = %s",
        (events[2].id,),
    )
    (brk,) = audit_verify()
    assert (brk.event_id, brk.reason) == (events[2].id, "content does not match its hash")


def test_edited_body_that_is_no_longer_json_is_still_reported():
    events = _append(3)
    superuser_sql("UPDATE orchestrator_auditevent SET body = '{broken' WHERE id = %s", (events[1].id,))
    (brk,) = audit_verify()
    assert (brk.event_id, brk.reason) == (events[1].id, "content does not match its hash")


def test_deleted_event_is_detected():
    events = _append(4)
    superuser_sql("DELETE FROM orchestrator_auditevent WHERE id = %s", (events[1].id,))
    (brk,) = audit_verify()
    assert brk.seq == events[1].seq and "seq gap" in brk.reason


def test_deleted_tail_sealed_by_a_checkpoint_is_detected_even_with_a_forged_head():
    events = _append(4)
    audit_checkpoint_create()
    last = events[-1]
    superuser_sql("DELETE FROM orchestrator_auditevent WHERE id = %s", (last.id,))
    superuser_sql(
        "UPDATE orchestrator_auditchainhead SET seq = seq - 1, hash = %s WHERE partition = %s",
        (events[-2].hash, last.partition),
        table="orchestrator_auditchainhead",
    )
    (brk,) = audit_verify()
    assert "sealed by checkpoint" in brk.reason and brk.seq == last.seq


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
    assert brk.seq == a.seq and brk.event_id == b.id


def test_inserted_event_with_recomputed_hashes_is_caught_by_the_checkpoint():
    """The attacker rewrites every later link and the head: only the signed checkpoint can tell."""
    events = _append(5)
    checkpoint = audit_checkpoint_create()
    partition = events[0].partition
    forged_at = events[2].seq
    rows = list(AuditEvent.objects.filter(partition=partition, seq__gte=forged_at).order_by("-seq"))
    for row in rows:  # make room
        superuser_sql("UPDATE orchestrator_auditevent SET seq = seq + 1 WHERE id = %s", (row.id,))
    forged_body = json.loads(events[2].body) | {"seq": forged_at, "data": {"i": "forged"}}
    superuser_sql(
        "INSERT INTO orchestrator_auditevent (partition, seq, occurred_at, kind, outcome, actor, actor_roles,"
        " decision_id, flow, queue, subject_type, subject_id, request_id, data, context, policy_version,"
        " model_version, body, prev_hash, hash) SELECT partition, %s, occurred_at, kind, outcome, actor, actor_roles,"
        ' decision_id, flow, queue, subject_type, subject_id, request_id, \'{"i": "forged"}\', context,'
        " policy_version, model_version, %s, '', '' FROM orchestrator_auditevent WHERE id = %s",
        (forged_at, canonical_bytes(forged_body).decode(), events[2].id),
    )
    prev = events[1].hash
    for row in AuditEvent.objects.filter(partition=partition, seq__gte=forged_at).order_by("seq"):
        body = json.loads(row.body) | {"seq": row.seq}
        raw = canonical_bytes(body)
        new_hash = link_hash(prev, raw)
        superuser_sql(
            "UPDATE orchestrator_auditevent SET body = %s, prev_hash = %s, hash = %s WHERE id = %s",
            (raw.decode(), prev, new_hash, row.id),
        )
        prev = new_hash
    superuser_sql(
        "UPDATE orchestrator_auditchainhead SET seq = seq + 1, hash = %s WHERE partition = %s",
        (prev, partition),
        table="orchestrator_auditchainhead",
    )
    breaks = audit_verify(check_checkpoints=False)
    assert breaks == []  # the chain alone is consistent again ...
    (brk,) = audit_verify()  # ... but it no longer matches what was signed
    assert brk.checkpoint_id == checkpoint.id and brk.partition == partition


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE orchestrator_auditcheckpoint SET statement = replace(statement, '\"seq\":4', '\"seq\":3')",
        "UPDATE orchestrator_auditcheckpoint SET signature = %s",
        "DELETE FROM orchestrator_auditcheckpoint WHERE id = (SELECT min(id) FROM orchestrator_auditcheckpoint)",
    ],
    ids=["statement", "signature", "deleted"],
)
def test_altered_checkpoint_is_detected(sql):
    _append(4)
    audit_checkpoint_create()
    _append(1, start=4)
    audit_checkpoint_create()
    params = (base64.b64encode(b"\x00" * 64).decode(),) if "%s" in sql else ()
    superuser_sql(sql, params, table="orchestrator_auditcheckpoint")
    assert any("checkpoint" in reason for reason in _reasons())


def test_checkpoint_signed_by_another_key_is_detected(settings):
    _append(2)
    audit_checkpoint_create()
    settings.HANDRAIL_AUDIT_SIGNING_KEY = generate_private_key_b64()
    assert any("signature is not valid" in reason for reason in _reasons())


def test_altered_checkpoint_file_is_detected():
    _append(2)
    checkpoint = audit_checkpoint_create()
    path = Path(checkpoint.file_path)
    path.write_bytes(path.read_bytes().replace(b'"seq\\":2', b'"seq\\":1'))
    assert any("file copy" in reason for reason in _reasons())


def test_checkpoints_and_tombstones_refuse_update_and_delete():
    _append(1)
    checkpoint = audit_checkpoint_create()
    for sql in (
        "UPDATE orchestrator_auditcheckpoint SET signature = 'x' WHERE id = %s",
        "DELETE FROM orchestrator_auditcheckpoint WHERE id = %s",
    ):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(sql, (checkpoint.id,))
    assert AuditCheckpoint.objects.get(pk=checkpoint.id).signature == checkpoint.signature


def test_the_application_role_has_no_privilege_to_alter_the_trail():
    """A fresh login role holding `handrail_app` (what the app runs as) may append, never edit."""
    event = _append(1)[0]
    role = f"h_audit_probe_{uuid.uuid4().hex[:10]}"
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE ROLE {role} LOGIN")
        cursor.execute(f"GRANT handrail_app TO {role}")
    params = connection.get_connection_params()
    try:
        with psycopg.connect(
            host=params.get("host") or "127.0.0.1",
            port=params.get("port") or 5432,
            dbname=connection.settings_dict["NAME"],
            user=role,
            autocommit=True,
        ) as probe:
            probe.execute("SET ROLE handrail_app")
            assert probe.execute("SELECT count(*) FROM orchestrator_auditevent").fetchone()[0] == 1
            for sql in (
                "UPDATE orchestrator_auditevent SET actor = 'mallory'",
                "DELETE FROM orchestrator_auditevent",
                "TRUNCATE orchestrator_auditevent",
                "UPDATE orchestrator_auditcheckpoint SET signature = 'x'",
                "DELETE FROM orchestrator_audittombstone",
            ):
                with pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied"):
                    probe.execute(sql)
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="no retention tombstone"):
                probe.execute("SELECT handrail_audit_purge(%s, %s)", (event.partition, event.seq))
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", [role])
            cursor.execute(f"DROP ROLE {role}")
    assert AuditEvent.objects.get(pk=event.id).actor == "tester"


def test_an_exception_between_change_and_commit_leaves_neither_row(demo):
    from orchestrator.services.decisions import decision_submit

    with pytest.raises(RuntimeError, match="boom"), transaction.atomic():
        decision, created = decision_submit(
            submitted_by=demo["demo-model"],
            flow="loan_approval",
            idempotency_key="tamper-1",
            model_name="credit-gbm",
            model_version="7",
            output={"label": "approve"},
            confidence=0.5,
            payload={"applicant": "A-1", "amount": 1000, "income": 50000},
            risk={"country": "DE"},
        )
        assert created and AuditEvent.objects.filter(decision_id=decision.id).exists()
        raise RuntimeError("boom")
    assert not Decision.objects.filter(idempotency_key="tamper-1").exists()
    assert not AuditEvent.objects.filter(kind="decision.received", data__idempotency_key="tamper-1").exists()

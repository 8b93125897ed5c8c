"""Retention purges whole signed segments, leaves tombstones, keeps verification passing; legal holds block it."""

import uuid
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.db.utils import Error as DatabaseError
from django.utils import timezone

from orchestrator.audit.chain import audit_append, audit_verify
from orchestrator.audit.checkpoints import audit_checkpoint_create
from orchestrator.audit.retention import LegalHoldError, audit_purge
from orchestrator.audit.services import legal_hold_create, legal_hold_release
from orchestrator.models import AuditEvent, AuditTombstone

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _retention(audit_dirs, settings):  # type: ignore[no-untyped-def]
    settings.HANDRAIL_AUDIT_RETENTION_DAYS = 184


def _decision_events(n_decisions: int, flow: str = "loan_approval") -> list[str]:
    ids = []
    for _ in range(n_decisions):
        decision = str(uuid.uuid4())
        ids.append(decision)
        for kind in ("decision.received", "decision.routed", "decision.finalized"):
            with transaction.atomic():
                audit_append(kind=kind, actor="workflow", decision_id=decision, flow=flow)
    return ids


def test_purge_removes_old_segments_leaves_tombstones_and_verification_passes():
    _decision_events(6)
    old = audit_checkpoint_create(now=timezone.now() - timedelta(days=200))
    young = _decision_events(3)
    audit_checkpoint_create()
    assert audit_purge(now=timezone.now() - timedelta(days=100)).ranges == []  # nothing was old enough then
    plan = audit_purge()
    assert plan.checkpoint == old and plan.events == 18
    assert not AuditEvent.objects.filter(decision_id__isnull=False).exclude(decision_id__in=young).exists()
    assert AuditTombstone.objects.count() == len(plan.ranges)
    assert AuditEvent.objects.filter(kind="audit.retention.purged", outcome="ok").count() == 1
    assert audit_verify() == []
    _decision_events(2)  # the chains go on after the tombstones
    audit_checkpoint_create()
    assert audit_verify() == []
    assert audit_purge(now=timezone.now() + timedelta(days=185)).events > 0  # the second segment, later
    assert audit_verify() == []


def test_a_legal_hold_blocks_the_purge_until_released(demo):
    held = _decision_events(2, flow="fraud")
    _decision_events(2)
    audit_checkpoint_create()
    hold = legal_hold_create(created_by=demo["compliance"], reason="case 42", flow="fraud")
    with pytest.raises(LegalHoldError, match="case 42"):
        audit_purge(now=timezone.now() + timedelta(days=185))
    assert AuditEvent.objects.filter(decision_id__in=held).count() == 6
    assert AuditEvent.objects.filter(kind="audit.retention.purged", outcome="rejected").count() == 1
    legal_hold_release(hold_id=hold.pk, released_by=demo["compliance"])
    assert audit_purge(now=timezone.now() + timedelta(days=185)).events >= 12
    assert audit_verify() == []


def test_events_cannot_be_deleted_outside_a_tombstoned_purge():
    _decision_events(1)
    event = AuditEvent.objects.first()
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT set_config('handrail.audit_purge', 'on', true)")
        cursor.execute("DELETE FROM orchestrator_auditevent WHERE id = %s", [event.id])
    with pytest.raises(DatabaseError, match="no retention tombstone"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT handrail_audit_purge(%s, %s)", [event.partition, event.seq])
    assert AuditEvent.objects.filter(pk=event.id).exists()

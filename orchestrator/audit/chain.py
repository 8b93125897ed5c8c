"""Append to the audit trail inside the caller's transaction, and verify the chains."""

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from orchestrator.audit.canonical import GENESIS, canonical_bytes, link_hash
from orchestrator.models import AuditChainHead, AuditEvent


def _partition_for(key: str) -> int:
    digest = hashlib.sha256(key.encode()).digest()
    return int.from_bytes(digest[:4], "big") % settings.HANDRAIL_AUDIT_PARTITIONS


def event_body(event: AuditEvent) -> dict[str, Any]:
    """The hashed fields of an event, as plain JSON values."""
    return {
        "partition": event.partition,
        "seq": event.seq,
        "occurred_at": event.occurred_at.isoformat().replace("+00:00", "Z"),
        "kind": event.kind,
        "outcome": event.outcome,
        "actor": event.actor,
        "actor_roles": event.actor_roles,
        "decision_id": str(event.decision_id) if event.decision_id else None,
        "flow": event.flow,
        "queue": event.queue,
        "subject_type": event.subject_type,
        "subject_id": event.subject_id,
        "request_id": event.request_id,
        "data": event.data,
    }


def _actor_fields(actor: Any) -> tuple[str, list[str]]:
    if actor is None:
        return "", []
    if isinstance(actor, str):
        return actor, []
    roles = sorted(actor.groups.values_list("name", flat=True)) if actor.pk else []
    if actor.is_superuser:
        roles.append("superuser")
    return actor.get_username(), roles


def audit_append(
    *,
    kind: str,
    actor: Any = None,
    decision_id: uuid.UUID | str | None = None,
    flow: str = "",
    queue: str = "",
    subject_type: str = "",
    subject_id: str = "",
    data: dict[str, Any] | None = None,
    outcome: str = "ok",
    request_id: str = "",
    occurred_at: datetime | None = None,
) -> AuditEvent:
    """Append one event to its partition's chain. Must run inside the transaction of the change.

    Events of one decision share a partition, so a decision's history is one ordered chain segment.
    Actor is a user, a system actor name ("system", "workflow") or None.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("audit_append must run inside the transaction of the change it records")
    key = str(decision_id) if decision_id else (subject_id or kind)
    partition = _partition_for(key)
    head, _ = AuditChainHead.objects.select_for_update().get_or_create(
        partition=partition, defaults={"seq": 0, "hash": GENESIS}
    )
    actor_name, roles = _actor_fields(actor)
    event = AuditEvent(
        partition=partition,
        seq=head.seq + 1,
        occurred_at=occurred_at or timezone.now(),
        kind=kind,
        outcome=outcome,
        actor=actor_name,
        actor_roles=roles,
        decision_id=uuid.UUID(str(decision_id)) if decision_id else None,
        flow=flow,
        queue=queue,
        subject_type=subject_type,
        subject_id=str(subject_id),
        request_id=request_id,
        data=data or {},
        prev_hash=head.hash,
    )
    body = canonical_bytes(event_body(event))
    event.body = body.decode()
    event.hash = link_hash(event.prev_hash, body)
    event.save(force_insert=True)
    head.seq = event.seq
    head.hash = event.hash
    head.save(update_fields=["seq", "hash"])
    return event


def _columns_disagree(event: AuditEvent) -> bool:
    return json.loads(event.body) != json.loads(canonical_bytes(event_body(event)))


@dataclass(frozen=True)
class ChainBreak:
    partition: int
    seq: int
    event_id: int | None
    reason: str


def audit_verify(*, batch_size: int = 5000) -> list[ChainBreak]:
    """Walk every partition's chain; return the first break of each broken partition (empty = intact)."""
    breaks: list[ChainBreak] = []
    heads = {h.partition: h for h in AuditChainHead.objects.all()}
    partitions = set(heads) | set(AuditEvent.objects.values_list("partition", flat=True).distinct())
    for partition in sorted(partitions):
        expected_seq, prev = 1, GENESIS
        broken: ChainBreak | None = None
        last_id = 0
        while broken is None:
            rows = list(
                AuditEvent.objects.filter(partition=partition, seq__gte=expected_seq).order_by("seq")[:batch_size]
            )
            if not rows:
                break
            for event in rows:
                if event.seq != expected_seq:
                    broken = ChainBreak(
                        partition, expected_seq, event.id, f"seq gap: expected {expected_seq}, found {event.seq}"
                    )
                    break
                if event.prev_hash != prev:
                    broken = ChainBreak(partition, event.seq, event.id, "prev_hash does not match the previous link")
                    break
                if link_hash(event.prev_hash, event.body.encode()) != event.hash:
                    broken = ChainBreak(partition, event.seq, event.id, "content does not match its hash")
                    break
                if _columns_disagree(event):
                    broken = ChainBreak(partition, event.seq, event.id, "columns differ from the hashed body")
                    break
                prev, expected_seq, last_id = event.hash, expected_seq + 1, event.id
        head = heads.get(partition)
        if broken is None and head is not None and (head.seq != expected_seq - 1 or head.hash != prev):
            broken = ChainBreak(
                partition, expected_seq - 1, last_id or None, "chain head does not match the last event"
            )
        if broken:
            breaks.append(broken)
    return breaks

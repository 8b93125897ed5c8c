"""Append to the audit trail inside the caller's transaction, and verify the chains.

An append is one prepared statement (planned once per connection; see `orchestrator.prepared`): it
locks the partition's head row (the only serialization point), moves it and inserts the event.
Verification streams every partition in (partition, seq) order with a server-side cursor, checks
links, seq gaps and the columns against the hashed body (in SQL), and checks the signed checkpoints
and retention tombstones along the way.
"""

import contextvars
import hashlib
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.db import DataError, connection, transaction
from django.utils import timezone

from orchestrator.audit.canonical import GENESIS, canonical_bytes, link_hash
from orchestrator.models import AuditChainHead, AuditEvent
from orchestrator.prepared import prepared_cursor

# Set by the request middleware (orchestrator.audit.signals) so events carry the request's id.
current_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("handrail_audit_request_id", default="")

_EVENT_TABLE = AuditEvent._meta.db_table
_HEAD_TABLE = AuditChainHead._meta.db_table
_ROLES_ATTR = "_handrail_audit_roles"


def _partition_for(key: str) -> int:
    digest = hashlib.sha256(key.encode()).digest()
    return int.from_bytes(digest[:4], "big") % settings.HANDRAIL_AUDIT_PARTITIONS


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def derived_version(data: Any, key: str) -> str:
    """data[key]["version"] as text when it is a string or an integer (the indexed filter columns)."""
    holder = data.get(key) if isinstance(data, dict) else None
    value = holder.get("version") if isinstance(holder, dict) else None
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return ""


def event_body(event: AuditEvent) -> dict[str, Any]:
    """The hashed fields of an event, as plain JSON values (`context` only when non-empty)."""
    body = {
        "partition": event.partition,
        "seq": event.seq,
        "occurred_at": _iso(event.occurred_at),
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
    if event.context:
        body["context"] = event.context
    return body


def _actor_fields(actor: Any) -> tuple[str, list[str]]:
    if actor is None:
        return "", []
    if isinstance(actor, str):
        return actor, []
    roles = getattr(actor, _ROLES_ATTR, None)
    if roles is None:
        # Roles at the time of the event; cached on the user object, which lives for one request/job.
        roles = sorted(actor.groups.values_list("name", flat=True)) if actor.pk else []
        if actor.is_superuser:
            roles.append("superuser")
        try:
            setattr(actor, _ROLES_ATTR, roles)
        except AttributeError:
            pass
    return actor.get_username(), list(roles)


# One round trip per append: lock the partition head, move it, and insert the event whose body and
# hash Postgres completes with the new seq (sha256() over exactly the bytes Python would hash).
_APPEND = f"""
WITH old AS (
    SELECT seq, hash FROM {_HEAD_TABLE} WHERE partition = %(partition)s FOR UPDATE
), moved AS (
    UPDATE {_HEAD_TABLE} AS h
    SET seq = old.seq + 1,
        hash = encode(sha256(convert_to(old.hash || E'\\n' || %(pre)s || (old.seq + 1)::text || %(post)s, 'UTF8')),
                      'hex')
    FROM old WHERE h.partition = %(partition)s
    RETURNING h.seq, h.hash, old.hash AS prev_hash
)
INSERT INTO {_EVENT_TABLE} (partition, seq, occurred_at, kind, outcome, actor, actor_roles, decision_id, flow,
    queue, subject_type, subject_id, request_id, data, context, policy_version, model_version, body, prev_hash, hash)
SELECT %(partition)s, moved.seq, %(occurred_at)s, %(kind)s, %(outcome)s, %(actor)s, %(actor_roles)s::jsonb,
    %(decision_id)s, %(flow)s, %(queue)s, %(subject_type)s, %(subject_id)s, %(request_id)s, %(data)s::jsonb,
    %(context)s::jsonb, %(policy_version)s, %(model_version)s, %(pre)s || moved.seq::text || %(post)s,
    moved.prev_hash, moved.hash
FROM moved
RETURNING id, seq, prev_hash, hash
"""
_SEQ_SLOT = b',"seq":0,"subject_id":'


def _split_at_seq(body: bytes) -> tuple[str, str]:
    """The canonical body around its top-level seq (sorted keys put it before subject_id, after every
    other object or array; later values are escaped strings, so the last match is the real one)."""
    at = body.rfind(_SEQ_SLOT)
    if at < 0:
        raise ValueError("canonical body has no seq slot")
    return body[: at + 7].decode(), body[at + 8 :].decode()


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
    context: dict[str, Any] | None = None,
    trace_id: str = "",
    workflow_id: str = "",
    run_id: str = "",
    partition_key: str = "",
) -> AuditEvent:
    """Append one event to its partition's chain. Must run inside the transaction of the change.

    Events of one decision share a partition, so a decision's history is one ordered chain segment.
    Actor is a user, a system actor name ("system", "workflow") or None. `context` (plus trace_id,
    workflow_id, run_id) holds references such as an input's hash — never raw personal data.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("audit_append must run inside the transaction of the change it records")
    key = partition_key or (str(decision_id) if decision_id else (str(subject_id) or kind))
    partition = _partition_for(key)
    actor_name, roles = _actor_fields(actor)
    ctx = dict(context or {})
    for name, value in (("trace_id", trace_id), ("workflow_id", workflow_id), ("run_id", run_id)):
        if value:
            ctx[name] = value
    event = AuditEvent(
        partition=partition,
        occurred_at=(occurred_at or timezone.now()).astimezone(UTC),
        kind=kind,
        outcome=outcome,
        actor=actor_name,
        actor_roles=roles,
        decision_id=uuid.UUID(str(decision_id)) if decision_id else None,
        flow=flow,
        queue=queue,
        subject_type=subject_type,
        subject_id=str(subject_id),
        request_id=request_id or current_request_id.get(),
        data=data or {},
        context=ctx,
    )
    event.policy_version = derived_version(event.data, "policy")
    event.model_version = derived_version(event.data, "model")
    event.seq = 0
    pre, post = _split_at_seq(canonical_bytes(event_body(event)))
    params = {
        "partition": partition,
        "occurred_at": event.occurred_at,
        "kind": kind,
        "outcome": outcome,
        "actor": actor_name,
        "actor_roles": json.dumps(roles),
        "decision_id": event.decision_id,
        "flow": flow,
        "queue": queue,
        "subject_type": subject_type,
        "subject_id": event.subject_id,
        "request_id": event.request_id,
        "data": canonical_bytes(event.data).decode(),
        "context": canonical_bytes(ctx).decode(),
        "policy_version": event.policy_version,
        "model_version": event.model_version,
        "pre": pre,
        "post": post,
    }
    with prepared_cursor() as cursor:
        cursor.execute(_APPEND, params, prepare=True)
        row = cursor.fetchone()
        if row is None:  # the partition's first event ever: create its head, then append
            cursor.execute(
                f"INSERT INTO {_HEAD_TABLE} (partition, seq, hash) VALUES (%s, 0, %s) ON CONFLICT DO NOTHING",
                [partition, GENESIS],
            )
            cursor.execute(_APPEND, params, prepare=True)
            row = cursor.fetchone()
    if row is None:
        raise RuntimeError(f"audit partition {partition} has no head row")
    event.id, event.seq, event.prev_hash, event.hash = row
    event.body = f"{pre}{event.seq}{post}"
    event._state.adding = False
    event._state.db = connection.alias
    return event


# --- verification ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChainBreak:
    partition: int
    seq: int
    event_id: int | None
    reason: str
    checkpoint_id: int | None = None


# Columns must agree with the hashed body; checked by Postgres (a fast C JSON parser) row by row.
_COLUMNS_OK = """
    (b = jsonb_build_object('partition', e.partition, 'seq', e.seq, 'occurred_at', b->'occurred_at', 'kind', e.kind,
            'outcome', e.outcome, 'actor', e.actor, 'actor_roles', e.actor_roles, 'decision_id', e.decision_id,
            'flow', e.flow, 'queue', e.queue, 'subject_type', e.subject_type, 'subject_id', e.subject_id,
            'request_id', e.request_id, 'data', e.data)
        || CASE WHEN e.context = '{}'::jsonb THEN '{}'::jsonb ELSE jsonb_build_object('context', e.context) END
     AND (b->>'occurred_at')::timestamptz = e.occurred_at
     AND e.policy_version = CASE jsonb_typeof(e.data->'policy'->'version')
            WHEN 'string' THEN e.data->'policy'->>'version'
            WHEN 'number' THEN CASE WHEN e.data->'policy'->>'version' ~ '^-?[0-9]+$'
                                    THEN e.data->'policy'->>'version' ELSE '' END
            ELSE '' END
     AND e.model_version = CASE jsonb_typeof(e.data->'model'->'version')
            WHEN 'string' THEN e.data->'model'->>'version'
            WHEN 'number' THEN CASE WHEN e.data->'model'->>'version' ~ '^-?[0-9]+$'
                                    THEN e.data->'model'->>'version' ELSE '' END
            ELSE '' END)
"""


def _rows_sql(fast: bool) -> str:
    check = f"coalesce({_COLUMNS_OK}, false)" if fast else "NULL"
    lateral = ", LATERAL (SELECT e.body::jsonb AS b) AS x" if fast else ""
    return (
        f"SELECT e.partition, e.seq, e.id, e.prev_hash, e.hash, e.body, {check} "
        f"FROM {_EVENT_TABLE} AS e{lateral} ORDER BY e.partition, e.seq"
    )


def _columns_agree_slow(event_id: int) -> bool:
    event = AuditEvent.objects.get(pk=event_id)
    try:
        stored = json.loads(event.body)
    except ValueError:
        return False
    try:
        expected = json.loads(canonical_bytes(event_body(event)))
    except (TypeError, ValueError):
        return False
    return bool(
        stored == expected
        and event.policy_version == derived_version(event.data, "policy")
        and event.model_version == derived_version(event.data, "model")
    )


def _iter_rows(batch_size: int, fast: bool) -> Iterator[tuple[Any, ...]]:
    """Every event in chain order, through a server-side cursor (constant memory)."""
    with connection.chunked_cursor() as cursor:
        cursor.itersize = batch_size  # type: ignore[attr-defined]
        cursor.execute(_rows_sql(fast=fast))
        for row in cursor:
            yield row if fast else (*row[:6], None)


def audit_verify(*, batch_size: int = 5000, check_checkpoints: bool = True) -> list[ChainBreak]:
    """Walk every partition's chain; return the first break of each broken partition (empty = intact).

    Also checks every signed checkpoint (signature, its own chain, the file copy, the heads and the
    Merkle root of each partition's segment) and honours retention tombstones.
    """
    try:
        with transaction.atomic():
            return _verify(batch_size=batch_size, check_checkpoints=check_checkpoints, fast=True)
    except DataError:  # some body is not JSON at all: Postgres cannot compare it, so Python does
        with transaction.atomic():
            return _verify(batch_size=batch_size, check_checkpoints=check_checkpoints, fast=False)


def _verify(*, batch_size: int, check_checkpoints: bool, fast: bool) -> list[ChainBreak]:
    from orchestrator.audit.checkpoints import CheckpointWalker

    walker = CheckpointWalker.load() if check_checkpoints else None
    breaks: list[ChainBreak] = list(walker.problems) if walker else []
    heads = {h.partition: h for h in AuditChainHead.objects.all()}
    starts = walker.chain_starts() if walker else {}
    seen: set[int] = set()
    state: dict[str, Any] = {}

    def finish(partition: int) -> None:
        brk = state.get("broken")
        if brk is None:
            expected, prev, last_id = state["expected"], state["prev"], state["last_id"]
            head = heads.get(partition)
            if head is not None and (head.seq != expected - 1 or head.hash != prev):
                brk = ChainBreak(partition, expected - 1, last_id, "chain head does not match the last event")
            elif head is None and expected - 1 > starts.get(partition, (0, GENESIS))[0]:
                brk = ChainBreak(partition, expected - 1, last_id, "chain head is missing")
            if brk is None and walker is not None:
                brk = walker.finish_partition(partition, expected - 1, prev)
        if brk is not None:
            breaks.append(brk)

    current: int | None = None
    for partition, seq, event_id, prev_hash, hash_, body, columns_ok in _iter_rows(batch_size, fast):
        if partition != current:
            if current is not None:
                finish(current)
            current = partition
            seen.add(partition)
            start_seq, start_hash = starts.get(partition, (0, GENESIS))
            state = {"expected": start_seq + 1, "prev": start_hash, "last_id": None, "broken": None}
            if walker is not None:
                walker.start_partition(partition)
        if state["broken"] is not None:
            continue
        expected = state["expected"]
        if seq != expected:
            reason = f"seq gap: expected {expected}, found {seq}" if seq > expected else f"unexpected seq {seq}"
            state["broken"] = ChainBreak(partition, expected, event_id, reason)
            continue
        if prev_hash != state["prev"]:
            state["broken"] = ChainBreak(partition, seq, event_id, "prev_hash does not match the previous link")
            continue
        if link_hash(prev_hash, body.encode()) != hash_:
            state["broken"] = ChainBreak(partition, seq, event_id, "content does not match its hash")
            continue
        if columns_ok is None:
            columns_ok = _columns_agree_slow(event_id)
        if not columns_ok:
            state["broken"] = ChainBreak(partition, seq, event_id, "columns differ from the hashed body")
            continue
        if walker is not None:
            problem = walker.feed(partition, seq, event_id, hash_)
            if problem is not None:
                state["broken"] = problem
                continue
        state["expected"], state["prev"], state["last_id"] = seq + 1, hash_, event_id
    if current is not None:
        finish(current)
    for partition in sorted(set(heads) - seen):
        start_seq, start_hash = starts.get(partition, (0, GENESIS))
        state = {"expected": start_seq + 1, "prev": start_hash, "last_id": None, "broken": None}
        if walker is not None:
            walker.start_partition(partition)
        finish(partition)
    if walker is not None:
        for partition in sorted(walker.partitions() - seen - set(heads)):
            walker.start_partition(partition)
            problem = walker.finish_partition(partition, starts.get(partition, (0, GENESIS))[0], GENESIS)
            if problem is not None:
                breaks.append(problem)
    return sorted(breaks, key=lambda b: (b.partition, b.seq))


def audit_decision(decision: Any, *, kind: str, actor: Any, **fields: Any) -> AuditEvent:
    """An event whose subject is a decision, appended in the caller's transaction."""
    return audit_append(
        kind=kind,
        actor=actor,
        decision_id=decision.id,
        flow=decision.flow,
        subject_type="decision",
        subject_id=str(decision.id),
        **fields,
    )

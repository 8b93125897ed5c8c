"""Retention: purge whole segments sealed by an old enough signed checkpoint, leaving tombstones.

Only events of a checkpoint created before now − retention are purged, partition by partition up to
that checkpoint's head, so the chain resumes at a signed boundary and `audit_verify` keeps passing.
An active legal hold covering any event in the range blocks the purge. The delete runs through the
SECURITY DEFINER function `handrail_audit_purge` (migration audit_trail), which removes only a range
a tombstone already records; the application role itself has no DELETE privilege on the trail.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max, Q
from django.utils import timezone

from orchestrator.audit.chain import audit_append
from orchestrator.audit.checkpoints import statement_of
from orchestrator.errors import ConflictError
from orchestrator.models import AuditCheckpoint, AuditEvent, AuditTombstone, LegalHold


class LegalHoldError(ConflictError):
    code = "legal_hold"


@dataclass
class PurgePlan:
    checkpoint: AuditCheckpoint | None
    ranges: list[tuple[int, int, int, str]]  # partition, from_seq, up_to_seq, hash at up_to_seq

    @property
    def events(self) -> int:
        return sum(up - start + 1 for _, start, up, _ in self.ranges)


def audit_purge_plan(*, now: datetime | None = None, retention_days: int | None = None) -> PurgePlan:
    days = settings.HANDRAIL_AUDIT_RETENTION_DAYS if retention_days is None else retention_days
    cutoff = (now or timezone.now()) - timedelta(days=days)
    checkpoint = AuditCheckpoint.objects.filter(created_at__lte=cutoff).order_by("-id").first()
    if checkpoint is None:
        return PurgePlan(None, [])
    purged = dict(AuditTombstone.objects.values("partition").annotate(m=Max("up_to_seq")).values_list("partition", "m"))
    ranges = []
    for head in statement_of(checkpoint)["heads"]:
        partition, seq = int(head["partition"]), int(head["seq"])
        start = purged.get(partition, 0) + 1
        if seq >= start:
            ranges.append((partition, start, seq, head["hash"]))
    return PurgePlan(checkpoint, ranges)


def _holds_blocking(plan: PurgePlan) -> list[LegalHold]:
    in_range = Q()
    for partition, start, up_to, _ in plan.ranges:
        in_range |= Q(partition=partition, seq__gte=start, seq__lte=up_to)
    blocking = []
    for hold in LegalHold.objects.filter(released_at__isnull=True).order_by("id"):
        events = AuditEvent.objects.filter(in_range)
        if hold.flow:
            events = events.filter(flow=hold.flow)
        if hold.decision_id:
            events = events.filter(decision_id=hold.decision_id)
        if events.exists():
            blocking.append(hold)
    return blocking


def audit_purge(
    *, requested_by: Any = "system", now: datetime | None = None, retention_days: int | None = None
) -> PurgePlan:
    """Purge what retention allows. Raises LegalHoldError (and audits the refusal) when a hold covers it."""
    days = settings.HANDRAIL_AUDIT_RETENTION_DAYS if retention_days is None else retention_days
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [0x48524C50])
        plan = audit_purge_plan(now=now, retention_days=days)
        if not plan.ranges:
            return plan
        holds = _holds_blocking(plan)
        if not holds:
            assert plan.checkpoint is not None
            created = timezone.now()
            actor_name = requested_by if isinstance(requested_by, str) else requested_by.get_username()
            counts = []
            for partition, start, up_to, hash_ in plan.ranges:
                AuditTombstone.objects.create(
                    created_at=created,
                    partition=partition,
                    from_seq=start,
                    up_to_seq=up_to,
                    last_hash=hash_,
                    checkpoint=plan.checkpoint,
                    purged_count=up_to - start + 1,
                    requested_by=actor_name,
                    retention_days=days,
                )
                with connection.cursor() as cursor:
                    cursor.execute("SELECT handrail_audit_purge(%s, %s)", [partition, up_to])
                    counts.append(
                        {
                            "partition": partition,
                            "from_seq": start,
                            "up_to_seq": up_to,
                            "purged": int(cursor.fetchone()[0]),
                        }
                    )
            audit_append(
                kind="audit.retention.purged",
                actor=requested_by,
                subject_type="audit_checkpoint",
                subject_id=str(plan.checkpoint.id),
                data={"checkpoint": plan.checkpoint.hash, "retention_days": days, "segments": counts},
            )
            return plan
    with transaction.atomic():
        audit_append(
            kind="audit.retention.purged",
            actor=requested_by,
            outcome="rejected",
            subject_type="audit_checkpoint",
            subject_id=str(plan.checkpoint.id if plan.checkpoint else ""),
            data={"reason": "legal hold", "holds": [h.pk for h in holds], "retention_days": days},
        )
    raise LegalHoldError(
        f"legal hold {holds[0].pk} ({holds[0].reason}) covers events due for purge", field="legal_hold"
    )

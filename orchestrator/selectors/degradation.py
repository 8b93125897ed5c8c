"""Reads for controlled degradation: queue capacity and predicted wait, modes, breaker and pause state.

Capacity of a queue = active reviewers × throughput per reviewer, where an active reviewer gave a
verdict in the queue within HANDRAIL_ACTIVE_REVIEWER_MINUTES (or holds a task there now) and the
throughput is 1 / the median handle time (`Review.seconds_on_task`) of the queue's last
HANDRAIL_HANDLE_TIME_SAMPLE reviews (HANDRAIL_DEFAULT_HANDLE_SECONDS before any exist).
Predicted wait = depth / capacity; with no active reviewer and work waiting it is unbounded (None).
"""

import statistics
from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.postgres.expressions import ArraySubquery
from django.db.models import Count, OuterRef
from django.utils import timezone

from orchestrator.flows import flows
from orchestrator.gates.spec import PolicySpec
from orchestrator.models import (
    HELD_STATES,
    FlowAutomation,
    Policy,
    PolicyStatus,
    Queue,
    QueueMode,
    ResumeRequest,
    ResumeStatus,
    Review,
    ReviewTask,
    TaskState,
)
from orchestrator.selectors.policies import policy_compiled
from orchestrator.selectors.ui import queues_supervised_by
from orchestrator.selectors.users import ROLE_COMPLIANCE, user_has_role

# Work that waits for, or is with, a reviewer. Suspended (and degradation-held) tasks are not counted.
DEPTH_STATES = (TaskState.READY, TaskState.ESCALATED, TaskState.RESERVED, TaskState.IN_PROGRESS)


@dataclass(frozen=True)
class QueueLoad:
    queue: str
    depth: int
    active_reviewers: int
    handle_seconds: float
    capacity_per_hour: float
    predicted_wait_seconds: float | None  # None: no capacity while work waits (unbounded)
    sla_seconds: int | None

    @property
    def wait_ratio(self) -> float | None:
        """Predicted wait as a multiple of the SLA (inf without capacity); None without an SLA."""
        if self.sla_seconds is None:
            return None
        if self.predicted_wait_seconds is None:
            return float("inf")
        return self.predicted_wait_seconds / self.sla_seconds

    def signals(self) -> dict[str, Any]:
        ratio = self.wait_ratio
        return {
            **asdict(self),
            "wait_ratio": None if ratio is None or ratio == float("inf") else round(ratio, 4),
            "wait_over_sla": ratio is not None and ratio > 1.0,
        }


def queue_loads(*, queues: Iterable[Queue], now: datetime | None = None) -> dict[str, QueueLoad]:
    """The load of each queue by slug, in two queries whatever the number of queues: the depths in one
    grouped scan of the open tasks (a correlated count per queue would scan the task table once per
    queue), and the reviewers and handle times in correlated subqueries (each an index lookup).

    `sla_seconds` is left None: the SLA is a policy's, not the queue's (see `queue_load`)."""
    now = now or timezone.now()
    since = now - timedelta(minutes=settings.HANDRAIL_ACTIVE_REVIEWER_MINUTES)
    ids = [q.pk for q in queues]
    depths = dict(
        ReviewTask.objects.filter(queue_id__in=ids, state__in=DEPTH_STATES)
        .order_by()
        .values("queue_id")
        .annotate(n=Count("pk"))
        .values_list("queue_id", "n")
    )
    reviewed = Review.objects.filter(task__queue=OuterRef("pk"), created_at__gte=since).values("reviewer_id")
    holding = ReviewTask.objects.filter(queue=OuterRef("pk"), state__in=HELD_STATES, lease_expires_at__gt=now).values(
        "claimed_by_id"
    )
    handles = (
        Review.objects.filter(task__queue=OuterRef("pk"), seconds_on_task__isnull=False, seconds_on_task__gt=0)
        .order_by("-created_at")
        .values("seconds_on_task")[: settings.HANDRAIL_HANDLE_TIME_SAMPLE]
    )
    rows = (
        Queue.objects.filter(pk__in=ids)
        .annotate(
            reviewed=ArraySubquery(reviewed.distinct()),
            holding=ArraySubquery(holding),
            handles=ArraySubquery(handles),
        )
        .values_list("pk", "slug", "reviewed", "holding", "handles")
    )
    return {slug: _load(slug, depths.get(pk, 0), *rest) for pk, slug, *rest in rows}


def _load(slug: str, depth: int, reviewed: list[Any], holding: list[Any], handles: list[float]) -> QueueLoad:
    active = {*reviewed, *holding} - {None}
    handle = float(statistics.median(handles)) if handles else float(settings.HANDRAIL_DEFAULT_HANDLE_SECONDS)
    per_second = len(active) / handle if handle > 0 else 0.0
    if depth == 0:
        wait: float | None = 0.0
    elif per_second > 0:
        wait = depth / per_second
    else:
        wait = None
    return QueueLoad(
        queue=slug,
        depth=depth,
        active_reviewers=len(active),
        handle_seconds=round(handle, 3),
        capacity_per_hour=round(per_second * 3600, 3),
        predicted_wait_seconds=None if wait is None else round(wait, 3),
        sla_seconds=None,
    )


def queue_load(*, queue: Queue, sla_seconds: int | None, now: datetime | None = None) -> QueueLoad:
    """One queue's load against the SLA a policy gives it there."""
    return replace(queue_loads(queues=[queue], now=now)[queue.slug], sla_seconds=sla_seconds)


def flow_queue_slas(*, spec: PolicySpec) -> dict[str, int | None]:
    """Each queue a policy's tiers use, with the shortest tier SLA there (the one load threatens first)."""
    out: dict[str, int | None] = {}
    for tier in spec.tiers.values():
        current = out.get(tier.queue)
        if tier.queue not in out or (tier.sla_seconds is not None and (current is None or tier.sla_seconds < current)):
            out[tier.queue] = tier.sla_seconds
    return out


def active_policies() -> list[Policy]:
    return list(Policy.objects.filter(status=PolicyStatus.ACTIVE, flow__in=list(flows())).order_by("flow"))


def degradation_overview(*, user: Any = None) -> list[dict[str, Any]]:
    """Per flow and queue: mode, breaker state, paused, predicted wait, capacity, depth (for the API and
    the supervisor board). With `user`, only queues they supervise (superusers and compliance: all)."""
    visible: set[str] | None = None
    if user is not None and not user.is_superuser and not user_has_role(user=user, role=ROLE_COMPLIANCE):
        visible = {q.slug for q in queues_supervised_by(user=user)}
    automation = {a.flow: a for a in FlowAutomation.objects.select_related("paused_by")}
    modes = {(m.flow, m.queue.slug): m for m in QueueMode.objects.select_related("queue")}
    pending = {
        r.flow: r for r in ResumeRequest.objects.filter(status=ResumeStatus.PENDING).select_related("requested_by")
    }
    queues = {q.slug: q for q in Queue.objects.all()}
    compiled = [(policy, policy_compiled(policy=policy)) for policy in active_policies()]
    shown = {slug for _, spec in compiled for slug in flow_queue_slas(spec=spec) if visible is None or slug in visible}
    loads = queue_loads(queues=[q for slug, q in queues.items() if slug in shown])  # one query, not one per row
    rows = []
    for policy, spec in compiled:
        state = automation.get(policy.flow)
        request = pending.get(policy.flow)
        for slug, sla in sorted(flow_queue_slas(spec=spec).items()):
            if slug not in queues or (visible is not None and slug not in visible):
                continue
            mode = modes.get((policy.flow, slug))
            load = loads[slug]
            rows.append(
                {
                    "flow": policy.flow,
                    "queue": slug,
                    "mode": mode.mode if mode else "normal",
                    "mode_since": mode.since.isoformat() if mode else None,
                    "mode_forced": mode.forced if mode else "",
                    "degradation_configured": spec.degradation is not None,
                    "breaker": state.breaker if state else "closed",
                    "breaker_reason": state.breaker_reason if state else "",
                    "psi": state.last_psi if state else None,
                    "paused": bool(state and state.paused),
                    "paused_by": state.paused_by.get_username() if state and state.paused_by else None,
                    "resume_request": (
                        {"id": str(request.id), "requested_by": request.requested_by.get_username()}
                        if request
                        else None
                    ),
                    "depth": load.depth,
                    "active_reviewers": load.active_reviewers,
                    "handle_seconds": load.handle_seconds,
                    "capacity_per_hour": load.capacity_per_hour,
                    "predicted_wait_seconds": load.predicted_wait_seconds,
                    "sla_seconds": sla,
                }
            )
    return rows

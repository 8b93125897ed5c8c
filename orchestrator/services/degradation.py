"""Controlled degradation: modes per (flow, queue) with hysteresis, and what routing does under them.

`degradation_evaluate` (Celery beat, every HANDRAIL_MODE_EVALUATE_SECONDS, and on demand) measures
each queue's load and moves its mode between `normal` and `degraded`: enter when the predicted wait
exceeds `enter.wait_over_sla` × the SLA or the depth exceeds `enter.depth_over`; leave only when both
are below the `exit` marks and the mode has lasted `min_dwell_seconds`. Every change is audited
(`mode.changed`) and announced.

`degradation_adjust` runs in `decision_route` after the pure gate evaluation (which stays pure): a
paused flow or an open/half-open breaker sends every decision to people; otherwise, in a degraded
queue, the first rung of the tier's ladder whose `when` holds applies (raise_qa, hold, auto_decide,
alert). Critical (always_human) tiers always go to people and raise an alert. The explanation records
the mode and what was applied. `degradation_after_route` does the writes the adjustment needs.
"""

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from orchestrator.audit.chain import audit_append, audit_decision
from orchestrator.errors import NotFound, PermissionDenied, ValidationFailed
from orchestrator.gates import Route
from orchestrator.gates.sampling import qa_draw
from orchestrator.gates.spec import AUTO_KINDS, PolicySpec, Rung, Tier
from orchestrator.models import (
    BreakerState,
    Decision,
    DecisionRevocation,
    DegradationHold,
    FlowAutomation,
    Mode,
    Queue,
    QueueMode,
    Review,
    ReviewTask,
    TaskKind,
    TaskState,
    Verdict,
)
from orchestrator.selectors.degradation import active_policies, flow_queue_slas, queue_load
from orchestrator.selectors.policies import policy_compiled
from orchestrator.selectors.users import (
    OVERSIGHT_ROLES,
    user_has_any_role,
)
from orchestrator.services.automation import breaker_evaluate
from orchestrator.services.notifications import notification_enqueue, notify_event, notify_supervisors
from orchestrator.services.tasks import task_audit

QA_PRIORITY = -1  # post-hoc QA never overtakes decisions that wait for a person


# ---------------------------------------------------------------- the mode evaluator


def _enter(spec: PolicySpec, signals: dict[str, Any]) -> bool:
    d = spec.degradation
    assert d is not None
    ratio = signals.get("wait_ratio")
    no_capacity = signals.get("predicted_wait_seconds") is None and signals.get("sla_seconds") is not None
    if d.enter_wait_ratio is not None and (no_capacity or (ratio is not None and ratio > d.enter_wait_ratio)):
        return True
    return d.enter_depth is not None and signals["depth"] > d.enter_depth


def _calm(spec: PolicySpec, signals: dict[str, Any]) -> bool:
    d = spec.degradation
    assert d is not None
    ratio = signals.get("wait_ratio")
    no_capacity = signals.get("predicted_wait_seconds") is None and signals.get("sla_seconds") is not None
    wait_ok = not no_capacity and (ratio is None or ratio < d.exit_wait_ratio)
    depth_ok = d.exit_depth is None or signals["depth"] < d.exit_depth
    return wait_ok and depth_ok


def _change_mode(row: QueueMode, to: str, *, actor: Any, reason: str, now: datetime) -> None:
    before = row.mode
    row.mode, row.since = to, now
    audit_append(
        kind="mode.changed",
        actor=actor,
        flow=row.flow,
        queue=row.queue.slug,
        subject_type="queue_mode",
        subject_id=f"{row.flow}:{row.queue.slug}",
        data={"from": before, "to": to, "reason": reason, "signals": row.signals, "forced": row.forced},
    )
    notify_event(
        event="mode.changed",
        flow=row.flow,
        queue=row.queue.slug,
        payload={"from": before, "to": to, "reason": reason, "signals": row.signals},
        dedupe=f"mode:{row.flow}:{row.queue.slug}:{now.isoformat()}",
    )
    if to == Mode.DEGRADED:
        notify_supervisors(
            queue=row.queue,
            event="mode.changed",
            subject=f"Queue {row.queue.slug} is degraded for {row.flow}",
            body=f"{reason}\n\nLoad: {row.signals}",
            decision_id=None,
            dedupe=f"mode-mail:{row.flow}:{row.queue.slug}:{now.isoformat()}",
        )
    else:
        _release_holds(row.flow, row.queue, actor=actor)


def _release_holds(flow: str, queue: Queue, *, actor: Any) -> int:
    """The queue recovered: degradation-held tasks go back to the queue (oldest first)."""
    released = 0
    now = timezone.now()
    holds = list(
        DegradationHold.objects.filter(flow=flow, queue=queue, released_at__isnull=True)
        .order_by("created_at")
        .values_list("pk", "task_id")
    )
    locked = ReviewTask.objects.select_for_update().select_related("decision", "queue")
    tasks = {task.pk: task for task in locked.filter(pk__in=[task_id for _, task_id in holds])}
    for _, task_id in holds:
        task = tasks[task_id]
        if task.state == TaskState.SUSPENDED:
            task.state, task.suspended_from = task.suspended_from or TaskState.READY, ""
            task.save(update_fields=["state", "suspended_from"])
            task_audit(task, kind="task.released", actor=actor, data={"reason": "queue left degraded mode"})
            released += 1
    DegradationHold.objects.filter(pk__in=[pk for pk, _ in holds]).update(released_at=now)
    return released


def _mode_row_lock(flow: str, queue: Queue, now: datetime) -> QueueMode:
    """The (flow, queue) mode row, locked for the caller's transaction (created normal on first use)."""
    rows = QueueMode.objects.select_for_update().select_related("queue")
    return rows.get_or_create(flow=flow, queue=queue, defaults={"since": now, "evaluated_at": now})[0]


@transaction.atomic
def _evaluate_queue(flow: str, spec: PolicySpec, queue: Queue, sla: int | None, now: datetime) -> QueueMode:
    row = _mode_row_lock(flow, queue, now)
    row.signals = queue_load(queue=queue, sla_seconds=sla, now=now).signals()
    row.evaluated_at = now
    d = spec.degradation
    if row.forced:
        if row.mode != row.forced:
            _change_mode(row, row.forced, actor="system", reason="forced by a supervisor", now=now)
    elif d is None:
        if row.mode != Mode.NORMAL:
            _change_mode(row, Mode.NORMAL, actor="system", reason="the active policy has no degradation rules", now=now)
    elif row.mode == Mode.NORMAL and _enter(spec, row.signals):
        _change_mode(row, Mode.DEGRADED, actor="system", reason="load above the enter mark", now=now)
    elif (
        row.mode == Mode.DEGRADED
        and _calm(spec, row.signals)
        and (now - row.since).total_seconds() >= d.min_dwell_seconds
    ):
        _change_mode(row, Mode.NORMAL, actor="system", reason="load below the exit mark for the dwell time", now=now)
    row.save()
    return row


def degradation_evaluate(*, flow: str | None = None, now: datetime | None = None) -> list[QueueMode]:
    """Measure every queue of every flow (or one flow), set modes with hysteresis, re-check breakers."""
    now = now or timezone.now()
    out = []
    queues = {q.slug: q for q in Queue.objects.all()}
    for policy in active_policies():
        if flow is not None and policy.flow != flow:
            continue
        spec = policy_compiled(policy=policy)
        for slug, sla in flow_queue_slas(spec=spec).items():
            if slug in queues:
                out.append(_evaluate_queue(policy.flow, spec, queues[slug], sla, now))
        breaker_evaluate(flow=policy.flow, now=now)
    return out


@transaction.atomic
def mode_force(*, flow: str, queue: str, actor: Any, mode: str) -> QueueMode:
    """A supervisor forces a mode (`normal` or `degraded`) or lifts the override (`auto`)."""
    if not user_has_any_role(user=actor, roles=OVERSIGHT_ROLES):
        raise PermissionDenied("only supervisors and compliance officers may force a mode", field="user")
    if mode not in ("normal", "degraded", "auto"):
        raise ValidationFailed("must be normal, degraded or auto", field="mode")
    target = Queue.objects.filter(slug=queue).first()
    if target is None:
        raise NotFound(f"queue {queue!r} does not exist", field="queue")
    now = timezone.now()
    row = _mode_row_lock(flow, target, now)
    row.forced = "" if mode == "auto" else mode
    if row.forced and row.mode != row.forced:
        _change_mode(row, row.forced, actor=actor, reason="forced by a supervisor", now=now)
    else:
        audit_append(
            kind="mode.override_set",
            actor=actor,
            flow=flow,
            queue=queue,
            subject_type="queue_mode",
            subject_id=f"{flow}:{queue}",
            data={"override": row.forced or "auto", "mode": row.mode},
        )
    row.save()
    return row


# ---------------------------------------------------------------- routing under a mode


@dataclass(frozen=True)
class Adjustment:
    """What routing does beyond the pure evaluation; `route` is the route to use."""

    route: Route
    hold_queue: str | None = None
    qa_task: bool = False  # create a non-blocking post-hoc QA task
    qa_due_seconds: int | None = None  # its due time; for auto_decide it closes the revocation window
    qa_queue: str | None = None
    alert: bool = False
    revocable: bool = False
    notes: dict[str, Any] = field(default_factory=dict)


def _to_people(route: Route, tier: Tier, why: str) -> Route:
    explanation = dict(route.explanation)
    explanation.update(route="review", summary=f"{explanation.get('summary', '')}; {why}: {route.kind} became review")
    explanation.pop("qa", None)
    return dataclasses.replace(
        route,
        kind="review",
        queue=tier.queue,
        priority=tier.priority,
        reviewers=tier.reviewers,
        sla_seconds=tier.sla_seconds,
        escalation=tier.escalation,
        timeout_outcome=tier.timeout_outcome,
        qa_sample=False,
        explanation=explanation,
    )


def _gate_error(route: Route) -> bool:
    return any("error" in entry for entry in route.explanation.get("gates", []))


def degradation_adjust(*, decision: Decision, spec: PolicySpec, route: Route, policy_version: int) -> Adjustment:
    """Post-process a pure route under the flow's pause flag, breaker and the queue's mode."""
    tier = spec.tiers[route.tier] if route.tier in spec.tiers else spec.tiers[spec.default_tier]
    state = FlowAutomation.objects.filter(flow=decision.flow).first()
    paused = bool(state and state.paused)
    breaker = state.breaker if state else BreakerState.CLOSED
    queue = route.queue or tier.queue
    mode_row = QueueMode.objects.filter(flow=decision.flow, queue__slug=queue).first()
    mode = mode_row.mode if mode_row else Mode.NORMAL
    notes: dict[str, Any] = {"paused": paused, "breaker": breaker, "mode": mode, "queue": queue}

    def done(new: Route, **kw: Any) -> Adjustment:
        explanation = dict(new.explanation)
        explanation["automation"] = notes
        return Adjustment(route=dataclasses.replace(new, explanation=explanation), notes=notes, **kw)

    if paused or breaker != BreakerState.CLOSED:
        why = "automation is paused for this flow" if paused else f"the model breaker is {breaker}"
        notes["applied"] = "to_people"
        if route.kind in AUTO_KINDS:
            return done(_to_people(route, tier, why))
        return done(route)
    if mode != Mode.DEGRADED or spec.degradation is None:
        return done(route)
    signals = mode_row.signals if mode_row else {}
    wait_over = bool(signals.get("wait_over_sla")) or (
        signals.get("predicted_wait_seconds") is None and signals.get("sla_seconds") is not None
    )
    depth = int(signals.get("depth") or 0)
    rung: Rung | None = next(
        (r for r in spec.degradation.ladder.get(tier.name, ()) if r.holds(wait_over_sla=wait_over, depth=depth)), None
    )
    notes["rung"] = rung.as_dict() if rung else None
    alert = tier.always_human or (rung is not None and rung.action == "alert")
    if rung is None or rung.action == "alert":
        notes["applied"] = "alert" if alert else "none"
        return done(route, alert=alert)
    draw = qa_draw(str(decision.id), policy_version)
    if rung.action == "raise_qa":
        assert rung.rate is not None
        if route.kind in AUTO_KINDS and not route.qa_sample and draw < rung.rate:
            notes.update(applied="raise_qa", qa={"rate": rung.rate, "draw": draw, "sampled": True})
            explanation = dict(route.explanation, qa_sample=True)
            return done(
                dataclasses.replace(route, qa_sample=True, explanation=explanation),
                qa_task=True,
                qa_due_seconds=tier.sla_seconds,
                qa_queue=tier.queue,
                alert=alert,
            )
        notes["applied"] = "raise_qa (not drawn)" if route.kind in AUTO_KINDS else "none (not an auto route)"
        return done(route, alert=alert)
    if route.kind != "review" or _gate_error(route):
        notes["applied"] = "none (only a plain review route degrades)"
        return done(route, alert=alert)
    if rung.action == "hold":
        hold_queue = rung.queue or queue
        held = DegradationHold.objects.filter(
            flow=decision.flow, queue__slug=hold_queue, released_at__isnull=True
        ).count()
        assert rung.max_held is not None
        if held >= rung.max_held:
            notes["applied"] = f"none (hold bound of {rung.max_held} reached)"
            return done(route, alert=True)
        notes["applied"] = "hold"
        explanation = dict(route.explanation, queue=hold_queue)
        explanation["summary"] = f"{explanation.get('summary', '')}; queue degraded: held until capacity returns"
        return done(dataclasses.replace(route, queue=hold_queue, explanation=explanation), hold_queue=hold_queue)
    # auto_decide: the model's output stands, revocable within the window by a post-hoc QA review.
    assert rung.qa_rate is not None and rung.revocation_seconds is not None
    sampled = draw < rung.qa_rate
    notes.update(
        applied="auto_decide",
        revocation_seconds=rung.revocation_seconds,
        qa={"rate": rung.qa_rate, "draw": draw, "sampled": sampled},
    )
    explanation = dict(route.explanation)
    explanation.update(
        route="auto_approve",
        qa_sample=sampled,
        summary=f"{explanation.get('summary', '')}; queue degraded: auto-decided"
        + (", revocable by a post-hoc QA review" if sampled else ""),
    )
    new = dataclasses.replace(
        route, kind="auto_approve", queue=None, reviewers=0, qa_sample=sampled, explanation=explanation
    )
    return done(
        new,
        qa_task=sampled,
        qa_due_seconds=rung.revocation_seconds,
        qa_queue=tier.queue,
        revocable=True,
    )


def degradation_after_route(*, decision: Decision, task: ReviewTask | None, adjustment: Adjustment) -> None:
    """The writes an adjustment needs, in the routing transaction: hold the task, create the QA task, alert."""
    now = timezone.now()
    if adjustment.hold_queue and task is not None:
        task.suspended_from, task.state = TaskState.READY, TaskState.SUSPENDED
        task.save(update_fields=["state", "suspended_from"])
        DegradationHold.objects.create(task=task, flow=decision.flow, queue=task.queue)
        task_audit(task, kind="task.held", actor="system", data={"reason": "queue degraded", "rung": "hold"})
    if adjustment.qa_task:
        queue = Queue.objects.filter(slug=adjustment.qa_queue).first()
        if queue is not None:
            seconds = adjustment.qa_due_seconds
            qa = ReviewTask.objects.create(
                decision=decision,
                kind=TaskKind.QA,
                queue=queue,
                priority=QA_PRIORITY,
                tier=adjustment.route.tier,
                required_reviewers=1,
                due_at=now + timedelta(seconds=seconds) if seconds else None,
            )
            qa.decision = decision
            task_audit(
                qa,
                kind="task.created",
                actor="system",
                data={
                    "kind": "qa",
                    "post_hoc": True,
                    "revocable": adjustment.revocable,
                    "revocation_window_ends": qa.due_at.isoformat() if adjustment.revocable and qa.due_at else None,
                },
            )
    if adjustment.alert:
        queue = Queue.objects.filter(slug=adjustment.notes.get("queue")).first()
        dedupe = f"degraded-alert:{decision.id}"
        notify_event(
            event="degradation.alert",
            flow=decision.flow,
            queue=queue.slug if queue else "",
            decision_id=decision.id,
            payload={"tier": adjustment.route.tier, "mode": adjustment.notes.get("mode")},
            dedupe=dedupe,
        )
        if queue is not None:
            notify_supervisors(
                queue=queue,
                event="degradation.alert",
                subject=f"A {adjustment.route.tier} {decision.flow} decision arrived while {queue.slug} is degraded",
                body=f"Decision {decision.id} waits for people in {queue.slug}; the queue is over capacity.",
                decision_id=decision.id,
                dedupe=dedupe,
            )


# ---------------------------------------------------------------- post-hoc QA and revocation


def degradation_qa_verdict(*, task: ReviewTask, review: Review) -> None:
    """A QA review of an auto-decided decision completed (called in review_submit's transaction).

    A reject or modify within the revocation window (the QA task's due time) of a decision that was
    auto-decided under degradation revokes it: a DecisionRevocation row, `decision.revoked` in the
    audit trail, and a `decision.revoked` event to the flow's URL callbacks and subscribed webhooks.
    The original outcome stays recorded (nothing is rewritten); the client system undoes its effect.
    """
    decision = task.decision
    automation = (decision.explanation or {}).get("automation") or {}
    revocable = automation.get("applied") == "auto_decide"
    agrees = review.verdict == Verdict.APPROVE
    within = task.due_at is None or review.created_at <= task.due_at
    task_audit(
        task,
        kind="qa.reviewed",
        actor=review.reviewer,
        data={"review_id": str(review.id), "verdict": review.verdict, "agrees": agrees, "within_window": within},
    )
    if agrees or not revocable:
        return
    if not within:
        audit_decision(
            decision,
            kind="decision.revocation_too_late",
            actor=review.reviewer,
            data={"review_id": str(review.id), "window_ended": task.due_at.isoformat() if task.due_at else None},
        )
        return
    revocation, created = DecisionRevocation.objects.get_or_create(
        decision=decision, defaults={"review": review, "verdict": review.verdict, "reason": review.reason}
    )
    if not created:
        return
    audit_decision(
        decision,
        kind="decision.revoked",
        actor=review.reviewer,
        data={
            "review_id": str(review.id),
            "verdict": review.verdict,
            "reason": review.reason,
            "outcome_was": decision.outcome,
        },
    )
    from orchestrator.services.callbacks import callback_names, decision_callback_target, outcome_payload

    payload = outcome_payload(decision, event="decision.revoked")
    payload["revocation"] = {"verdict": review.verdict, "reason": review.reason, "output": review.output}
    names = callback_names(flow=decision.flow, spec=policy_compiled(policy=decision.policy)) if decision.policy else []
    for name in names:
        if decision_callback_target(decision=decision, name=name) is None:
            continue  # custom-activity callbacks learn of revocations from webhooks or the API
        notification_enqueue(
            channel="callback",
            target=name,
            event="decision.revoked",
            subject="decision.revoked",
            payload=payload,
            decision_id=decision.id,
            dedupe_key=f"{decision.id}|revoked:{name}",
        )
    notify_event(
        event="decision.revoked",
        flow=decision.flow,
        queue=task.queue.slug,
        decision_id=decision.id,
        payload={"verdict": review.verdict, "reason": review.reason},
        dedupe=f"revoked:{decision.id}",
    )

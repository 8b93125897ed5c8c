"""Per-flow automation switches: the pause button (resume needs a second person) and the model circuit breaker.

Both are read by routing (`decision_route` → `degradation_adjust`) on every decision: while a flow is
paused or its breaker is not closed, every decision goes to people. Every change is audited in the
transaction that makes it and announced to subscribed webhooks (`automation.paused`,
`automation.resumed`, `breaker.changed`).
"""

from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from orchestrator.audit.chain import audit_append
from orchestrator.errors import ConflictError, NotFound, PermissionDenied, ValidationFailed
from orchestrator.flows import flow_get
from orchestrator.gates.drift import histogram, psi
from orchestrator.gates.spec import BreakerSpec
from orchestrator.models import (
    BreakerState,
    Decision,
    FlowAutomation,
    ModelFailure,
    Policy,
    PolicyStatus,
    ResumeRequest,
    ResumeStatus,
)
from orchestrator.selectors.policies import policy_compiled
from orchestrator.selectors.users import (
    OVERSIGHT_ROLES,
    user_has_any_role,
)
from orchestrator.services.notifications import notify_event


class FourEyesResumeError(PermissionDenied):
    code = "four_eyes"


class AutomationStateError(ConflictError):
    code = "automation_state"


def _require_known_flow(flow: str) -> None:
    if flow_get(flow) is None:
        raise NotFound(f"unknown flow {flow!r}", field="flow")


def _require_supervisor(user: Any, action: str) -> None:
    if not user_has_any_role(user=user, roles=OVERSIGHT_ROLES):
        raise PermissionDenied(f"only supervisors and compliance officers may {action}", field="user")


def automation_lock(*, flow: str) -> FlowAutomation:
    """The flow's switches, locked for the caller's transaction (created on first use)."""
    return FlowAutomation.objects.select_for_update().get_or_create(flow=flow)[0]


def _audit(flow: str, kind: str, actor: Any, data: dict[str, Any], outcome: str = "ok") -> None:
    audit_append(kind=kind, actor=actor, flow=flow, subject_type="flow", subject_id=flow, data=data, outcome=outcome)


# ---------------------------------------------------------------- pause and four-eyes resume


@transaction.atomic
def flow_pause(*, flow: str, actor: Any, reason: str = "") -> FlowAutomation:
    """Pause automation: from the next routing on, every decision of the flow goes to people."""
    _require_known_flow(flow)
    _require_supervisor(actor, "pause automation")
    state = automation_lock(flow=flow)
    if state.paused:
        return state
    state.paused, state.paused_by, state.paused_at, state.pause_reason = True, actor, timezone.now(), reason
    state.save()
    _audit(flow, "automation.paused", actor, {"reason": reason})
    notify_event(
        event="automation.paused",
        flow=flow,
        payload={"by": actor.get_username(), "reason": reason},
        dedupe=f"pause:{flow}:{state.paused_at.isoformat()}",
    )
    return state


@transaction.atomic
def flow_resume_request(*, flow: str, actor: Any, reason: str = "") -> ResumeRequest:
    """Ask to resume a paused flow; a different supervisor or compliance officer must approve."""
    _require_known_flow(flow)
    _require_supervisor(actor, "request a resume")
    state = automation_lock(flow=flow)
    if not state.paused:
        raise AutomationStateError("the flow is not paused", field="flow", state="running")
    if ResumeRequest.objects.filter(flow=flow, status=ResumeStatus.PENDING).exists():
        raise AutomationStateError("a resume request is already waiting for approval", field="flow", state="pending")
    request = ResumeRequest.objects.create(flow=flow, requested_by=actor, reason=reason)
    _audit(flow, "automation.resume_requested", actor, {"request": str(request.id), "reason": reason})
    return request


@transaction.atomic
def _approve(request_id: Any, approver: Any) -> ResumeRequest:
    _require_supervisor(approver, "approve a resume")
    request = ResumeRequest.objects.select_for_update().filter(pk=request_id).first()
    if request is None:
        raise NotFound(f"resume request {request_id} does not exist", field="request_id")
    if request.status != ResumeStatus.PENDING:
        raise AutomationStateError("this request was already decided", field="request_id", state=request.status)
    if request.requested_by_id == approver.pk:
        raise FourEyesResumeError("a second person must approve the resume: you requested it", field="approver")
    state = automation_lock(flow=request.flow)
    if state.paused_by_id == approver.pk and state.paused_by_id == request.requested_by_id:
        raise FourEyesResumeError("a second person must approve the resume", field="approver")
    now = timezone.now()
    request.status, request.approved_by, request.decided_at = ResumeStatus.APPROVED, approver, now
    request.save()
    paused_for = (now - state.paused_at).total_seconds() if state.paused_at else None
    state.paused, state.paused_by, state.paused_at, state.pause_reason = False, None, None, ""
    state.save()
    _audit(
        request.flow,
        "automation.resumed",
        approver,
        {"request": str(request.id), "requested_by": request.requested_by.get_username(), "paused_seconds": paused_for},
    )
    notify_event(
        event="automation.resumed",
        flow=request.flow,
        payload={"requested_by": request.requested_by.get_username(), "approved_by": approver.get_username()},
        dedupe=f"resume:{request.id}",
    )
    return request


def flow_resume_approve(*, request_id: Any, approver: Any) -> ResumeRequest:
    """Approve a resume request (four-eyes: not the requester). A refusal is audited on its own."""
    try:
        return _approve(request_id, approver)
    except FourEyesResumeError as exc:
        request = ResumeRequest.objects.filter(pk=request_id).first()
        if request is not None:
            with transaction.atomic():
                _audit(
                    request.flow,
                    "automation.resume_refused",
                    approver,
                    {"request": str(request.id), "reason": exc.reason},
                    outcome="rejected",
                )
        raise


# ---------------------------------------------------------------- the model circuit breaker


def breaker_spec_for(*, flow: str) -> BreakerSpec:
    policy = Policy.objects.filter(flow=flow, status=PolicyStatus.ACTIVE).first()
    return policy_compiled(policy=policy).breaker if policy is not None else BreakerSpec()


def _set_breaker(state: FlowAutomation, to: str, *, actor: Any, reason: str, data: dict[str, Any]) -> None:
    before = state.breaker
    state.breaker, state.breaker_since, state.breaker_reason = to, timezone.now(), reason
    state.save()
    _audit(state.flow, "breaker.changed", actor, {"from": before, "to": to, "reason": reason, **data})
    notify_event(
        event="breaker.changed",
        flow=state.flow,
        payload={"from": before, "to": to, "reason": reason},
        dedupe=f"breaker:{state.flow}:{state.breaker_since.isoformat()}",
    )


def _recent_confidences(flow: str, limit: int) -> list[float]:
    return list(Decision.objects.filter(flow=flow).order_by("-created_at").values_list("confidence", flat=True)[:limit])


def _drift(state: FlowAutomation, spec: BreakerSpec, now: datetime) -> float | None:
    """PSI of the last `drift_window` confidences against the baseline (taken once enough exist)."""
    if spec.psi_over is None:
        return None
    if not state.baseline:
        values = _recent_confidences(state.flow, spec.baseline_size)
        if len(values) < spec.baseline_size:
            return None
        state.baseline, state.baseline_at = histogram(values), now
        _audit(state.flow, "breaker.baseline_set", "system", {"decisions": len(values), "histogram": state.baseline})
    recent = _recent_confidences(state.flow, spec.drift_window)
    if len(recent) < spec.drift_window:
        return None
    return round(psi(state.baseline, histogram(recent)), 6)


@transaction.atomic
def breaker_evaluate(*, flow: str, now: datetime | None = None) -> FlowAutomation:
    """Apply the breaker's rules once (closed → open → half_open → closed; half_open → open)."""
    now = now or timezone.now()
    spec = breaker_spec_for(flow=flow)
    state = automation_lock(flow=flow)
    failures = ModelFailure.objects.filter(flow=flow, at__gt=now - timedelta(seconds=spec.window_seconds)).count()
    drift = _drift(state, spec, now)
    state.last_psi = drift
    drifted = drift is not None and spec.psi_over is not None and drift > spec.psi_over
    figures = {"failures": failures, "window_seconds": spec.window_seconds, "psi": drift, "psi_over": spec.psi_over}
    since = state.breaker_since or now
    if state.breaker == BreakerState.CLOSED:
        # Failures from before the breaker last closed were already answered by that trip.
        counted = (
            failures
            if state.breaker_since is None
            else ModelFailure.objects.filter(
                flow=flow, at__gt=max(now - timedelta(seconds=spec.window_seconds), state.breaker_since)
            ).count()
        )
        if counted >= spec.failures:
            _set_breaker(state, BreakerState.OPEN, actor="system", reason="model failures", data=figures)
        elif drifted:
            _set_breaker(state, BreakerState.OPEN, actor="system", reason="confidence drift", data=figures)
    elif state.breaker == BreakerState.OPEN:
        if state.breaker_reason.startswith("forced"):
            pass  # a supervisor opened it: only a supervisor closes it
        elif (now - since).total_seconds() >= spec.cooldown_seconds and failures < spec.failures and not drifted:
            _set_breaker(state, BreakerState.HALF_OPEN, actor="system", reason="cause cleared; probation", data=figures)
    elif state.breaker == BreakerState.HALF_OPEN:
        new_failures = ModelFailure.objects.filter(flow=flow, at__gt=since).exists()
        if new_failures or drifted:
            reason = "model failure during probation" if new_failures else "confidence drift during probation"
            _set_breaker(state, BreakerState.OPEN, actor="system", reason=reason, data=figures)
        elif (now - since).total_seconds() >= spec.probation_seconds:
            _set_breaker(state, BreakerState.CLOSED, actor="system", reason="recovered", data=figures)
    state.save(update_fields=["last_psi", "baseline", "baseline_at", "updated_at"])
    return state


def model_failure_report(
    *, flow: str, actor: Any, reason: str = "", source: str = "api", model_version: str = ""
) -> FlowAutomation:
    """Record one model failure (a client report or a model activity's error), then re-check the breaker."""
    _require_known_flow(flow)
    with transaction.atomic():
        failure = ModelFailure.objects.create(flow=flow, source=source, reason=reason, model_version=model_version)
        _audit(
            flow,
            "model.failure_reported",
            actor,
            {"failure": failure.pk, "source": source, "reason": reason, "model_version": model_version},
        )
    return breaker_evaluate(flow=flow)


@transaction.atomic
def breaker_force(*, flow: str, actor: Any, state: str, reason: str = "") -> FlowAutomation:
    """A supervisor opens the breaker by hand, or closes it (and, with it, takes a fresh drift baseline)."""
    _require_known_flow(flow)
    _require_supervisor(actor, "set the model breaker")
    if state not in (BreakerState.OPEN, BreakerState.CLOSED):
        raise ValidationFailed("must be open or closed", field="state")
    current = automation_lock(flow=flow)
    if current.breaker == state:
        return current
    if state == BreakerState.CLOSED:
        current.baseline, current.baseline_at = [], None  # the model may have changed: measure drift afresh
    _set_breaker(current, state, actor=actor, reason=f"forced: {reason}" if reason else "forced", data={})
    return current

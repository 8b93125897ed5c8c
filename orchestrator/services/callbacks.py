"""Outcome callbacks: tell the client system what became of a decision, once per decision and callback.

The workflow runs the `decision.callback` activity per callback after finalize; Temporal retries it
(bounded). Each attempt is recorded on the decision's `CallbackDelivery` row; success writes
`callback.delivered`, the last failed attempt `callback.failed` plus a dead letter that a supervisor
can redeliver. The decision id travels as `Idempotency-Key`, so a receiver that saw an earlier
attempt (whose answer was lost) applies the effect once.
"""

from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from orchestrator.audit.chain import audit_append
from orchestrator.errors import NotFound
from orchestrator.flows import flow_get
from orchestrator.models import (
    CallbackDelivery,
    CallbackStatus,
    Decision,
    DecisionRevocation,
    Notification,
    NotificationStatus,
)
from orchestrator.selectors.policies import policy_compiled
from orchestrator.services.webhooks import webhook_body, webhook_post
from workflows.flows import Callback


class CallbackFailed(Exception):
    """One attempt failed; retryable (Temporal tries again until its bound)."""


def callback_names(*, flow: str, spec: Any) -> list[str]:
    """The callbacks a decision of `flow` gets under a compiled policy: the flow's, then the policy's."""
    definition = flow_get(flow)
    names = [c.name for c in definition.callbacks] if definition else []
    names += [name for name, _ in spec.callbacks if name not in names]
    return names


def _flow_callback(flow: str, name: str) -> Callback | None:
    definition = flow_get(flow)
    for callback in definition.callbacks if definition else ():
        if callback.name == name:
            return callback
    return None


def callback_target(*, decision_id: Any, name: str) -> tuple[str, str] | None:
    """(url, signing secret) of a URL callback of the decision's flow or pinned policy; None otherwise."""
    decision = Decision.objects.select_related("policy").filter(pk=decision_id).first()
    return decision_callback_target(decision=decision, name=name) if decision is not None else None


def decision_callback_target(*, decision: Decision, name: str) -> tuple[str, str] | None:
    """`callback_target` for a decision already loaded (with its policy)."""
    callback = _flow_callback(decision.flow, name)
    if callback is not None:
        return (callback.url, settings.HANDRAIL_CALLBACK_SECRET) if callback.url else None
    if decision.policy is not None:
        for policy_name, url in policy_compiled(policy=decision.policy).callbacks:
            if policy_name == name:
                return url, settings.HANDRAIL_CALLBACK_SECRET
    return None


def outcome_payload(decision: Decision, *, event: str = "decision.finalized") -> dict[str, Any]:
    return {
        "event": event,
        "decision_id": str(decision.id),
        "flow": decision.flow,
        "client_key": decision.idempotency_key,
        "status": decision.status,
        "outcome": decision.outcome or None,
        "route": decision.route,
        "final_output": decision.final_output,
        "policy_version": decision.policy.version if decision.policy else None,
        "completed_at": decision.completed_at.isoformat() if decision.completed_at else None,
        "revoked": DecisionRevocation.objects.filter(decision=decision).exists(),
        "idempotency_key": f"{decision.id}:revoked" if event == "decision.revoked" else str(decision.id),
    }


def _audit(decision: Decision, kind: str, name: str, data: dict[str, Any], outcome: str = "ok") -> None:
    audit_append(
        kind=kind,
        actor="workflow",
        outcome=outcome,
        decision_id=decision.id,
        flow=decision.flow,
        subject_type="callback",
        subject_id=f"{decision.id}:{name}",
        data={"callback": name, **data},
    )


def callback_deliver(*, decision_id: str, name: str, attempt: int, final_attempt: bool) -> CallbackDelivery:
    """One attempt of one callback. Idempotent: a callback already delivered is not sent again.

    Raises CallbackFailed when this attempt failed, after its record committed (the row lock keeps
    two attempts from overlapping).
    """
    row, error = _attempt(decision_id=decision_id, name=name, final_attempt=final_attempt)
    if error:
        raise CallbackFailed(f"callback {name!r} attempt {attempt}: {error}")
    return row


@transaction.atomic
def _attempt(*, decision_id: str, name: str, final_attempt: bool) -> tuple[CallbackDelivery, str]:
    decision = Decision.objects.select_related("policy").filter(pk=decision_id).first()
    if decision is None:
        raise NotFound(f"decision {decision_id} does not exist", field="decision_id")
    row, _ = CallbackDelivery.objects.select_for_update().get_or_create(
        decision=decision, callback=name, event="decision.finalized", defaults={"idempotency_key": str(decision.id)}
    )
    if row.status == CallbackStatus.DELIVERED:
        return row, ""
    row.attempts += 1
    payload = outcome_payload(decision)
    callback = _flow_callback(decision.flow, name)
    status_code: int | None = None
    error = ""
    if callback is not None and callback.activity:
        definition = flow_get(decision.flow)
        function = definition.activities.get(callback.activity) if definition else None
        if function is None:
            error = f"the flow registers no activity {callback.activity!r}"
        else:
            try:
                function(payload)
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}" or "failed"
    else:
        target = decision_callback_target(decision=decision, name=name)
        if target is None:
            error = f"no callback {name!r} in the flow or its pinned policy"
        else:
            result = webhook_post(
                url=target[0],
                secret=target[1],
                event="decision.finalized",
                delivery=f"{decision.id}:{name}",
                idempotency_key=row.idempotency_key,
                body=webhook_body(payload),
            )
            status_code, error = result.status_code, result.error
    row.status_code = status_code
    if not error:
        row.status = CallbackStatus.DELIVERED
        row.delivered_at = timezone.now()
        row.last_error = ""
        row.save()
        _audit(decision, "callback.delivered", name, {"attempts": row.attempts, "status_code": status_code})
        return row, ""
    row.last_error = error[:2000]
    row.save()
    if final_attempt:
        _audit(
            decision,
            "callback.failed",
            name,
            {"attempts": row.attempts, "status_code": status_code, "error": row.last_error},
            outcome="failed",
        )
        if callback is None or callback.url:
            # A dead letter carrying the same idempotency key: listed for manual redelivery.
            Notification.objects.get_or_create(
                dedupe_key=f"{row.idempotency_key}|callback:{name}",
                defaults={
                    "channel": "callback",
                    "target": name,
                    "event": "decision.finalized",
                    "subject": "decision.finalized",
                    "payload": payload,
                    "decision_id": decision.id,
                    "status": NotificationStatus.DEAD,
                    "attempts": row.attempts,
                    "last_error": row.last_error,
                },
            )
    return row, error


def callback_redelivered(*, notification: Notification, status_code: int | None) -> None:
    """A dead-lettered outcome callback went through on manual redelivery: close its delivery record."""
    if notification.event != "decision.finalized" or notification.decision_id is None:
        return
    row = (
        CallbackDelivery.objects.select_for_update()
        .filter(decision_id=notification.decision_id, callback=notification.target, event="decision.finalized")
        .select_related("decision")
        .first()
    )
    if row is None or row.status == CallbackStatus.DELIVERED:
        return
    row.status = CallbackStatus.DELIVERED
    row.delivered_at = timezone.now()
    row.status_code = status_code
    row.last_error = ""
    row.save()
    _audit(
        row.decision,
        "callback.delivered",
        row.callback,
        {"attempts": row.attempts, "redelivered": True, "status_code": status_code},
    )

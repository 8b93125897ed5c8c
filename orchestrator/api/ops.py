"""Operations API: webhooks, notification deliveries and dead letters, modes, pause/resume, model breaker.

Thin views: parse, call one service or selector, shape the output. Rules (roles, four-eyes, states)
live in the services.
"""

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from orchestrator.api.permissions import IsServiceAccount
from orchestrator.errors import NotFound
from orchestrator.models import NotificationStatus
from orchestrator.selectors.degradation import degradation_overview
from orchestrator.selectors.notifications import (
    notification_attempts,
    notification_get,
    notification_list,
    webhook_list,
)
from orchestrator.selectors.users import (
    OVERSIGHT_ROLES,
    user_has_any_role,
)
from orchestrator.services.automation import (
    breaker_force,
    flow_pause,
    flow_resume_approve,
    flow_resume_request,
    model_failure_report,
)
from orchestrator.services.degradation import degradation_evaluate, mode_force
from orchestrator.services.notifications import notification_redeliver
from orchestrator.services.webhooks import webhook_endpoint_create


class IsSupervisorOrCompliance(BasePermission):
    message = "this needs the supervisor or compliance role"

    def has_permission(self, request: Any, view: Any) -> bool:
        return user_has_any_role(user=request.user, roles=OVERSIGHT_ROLES)


def _when(value: Any) -> str | None:
    return value.isoformat() if value else None


def _notification(n: Any, *, with_log: bool = False) -> dict[str, Any]:
    body = {
        "id": n.pk,
        "channel": n.channel,
        "target": n.target,
        "event": n.event,
        "status": n.status,
        "attempts": n.attempts,
        "decision_id": str(n.decision_id) if n.decision_id else None,
        "dedupe_key": n.dedupe_key,
        "next_attempt_at": _when(n.next_attempt_at) if n.status == NotificationStatus.PENDING else None,
        "delivered_at": _when(n.delivered_at),
        "last_error": n.last_error,
        "created_at": _when(n.created_at),
    }
    if with_log:
        body["payload"] = n.payload
        body["deliveries"] = [
            {
                "attempt": a.attempt,
                "ok": a.ok,
                "status_code": a.status_code,
                "duration_ms": a.duration_ms,
                "error": a.error,
                "at": _when(a.at),
            }
            for a in notification_attempts(notification_id=n.pk)
        ]
    return body


class WebhookListCreateApi(APIView):
    """GET: the webhook endpoints (secrets never shown). POST: register one (the secret is shown once)."""

    permission_classes = [IsSupervisorOrCompliance]

    class InputSerializer(serializers.Serializer):
        name = serializers.SlugField(max_length=100)
        url = serializers.CharField(max_length=1000)
        events = serializers.ListField(child=serializers.CharField(max_length=60), allow_empty=False)
        secret = serializers.CharField(required=False, allow_blank=True, default="", max_length=200)
        flow = serializers.CharField(required=False, allow_blank=True, default="", max_length=100)
        queue = serializers.CharField(required=False, allow_blank=True, default="", max_length=100)

    @staticmethod
    def _out(e: Any) -> dict[str, Any]:
        return {
            "name": e.name,
            "url": e.url,
            "events": e.events,
            "active": e.active,
            "flow": e.flow or None,
            "queue": e.queue.slug if e.queue_id else None,
            "created_at": _when(e.created_at),
        }

    def get(self, request: Request) -> Response:
        return Response([self._out(e) for e in webhook_list()])

    @extend_schema(request=InputSerializer)
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        endpoint = webhook_endpoint_create(actor=request.user, **data.validated_data)
        return Response({**self._out(endpoint), "secret": endpoint.secret}, status=status.HTTP_201_CREATED)


class NotificationListApi(APIView):
    """Deliveries, newest first; `?status=dead` is the dead-letter list. Filters: status, channel, event."""

    permission_classes = [IsSupervisorOrCompliance]

    class FilterSerializer(serializers.Serializer):
        status = serializers.ChoiceField(choices=NotificationStatus.values, required=False)
        channel = serializers.ChoiceField(choices=["email", "webhook", "callback"], required=False)
        event = serializers.CharField(required=False, max_length=60)
        limit = serializers.IntegerField(required=False, min_value=1, max_value=1000, default=200)

    @extend_schema(parameters=[FilterSerializer])
    def get(self, request: Request) -> Response:
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        return Response([_notification(n) for n in notification_list(**filters.validated_data)])


class NotificationDetailApi(APIView):
    """One notification with its delivery log (one row per attempt: status code, duration, error)."""

    permission_classes = [IsSupervisorOrCompliance]

    def get(self, request: Request, notification_id: int) -> Response:
        n = notification_get(notification_id=notification_id)
        if n is None:
            raise NotFound(f"notification {notification_id} does not exist", field="notification_id")
        return Response(_notification(n, with_log=True))


class NotificationRedeliverApi(APIView):
    """Send a dead letter again (a fresh round of bounded retries, the same idempotency key)."""

    permission_classes = [IsSupervisorOrCompliance]

    def post(self, request: Request, notification_id: int) -> Response:
        n = notification_redeliver(notification_id=notification_id, actor=request.user)
        return Response(_notification(n), status=status.HTTP_202_ACCEPTED)


class ModeListApi(APIView):
    """Per flow and queue: mode, breaker, paused, predicted wait, capacity, depth. `?refresh=1` re-evaluates."""

    permission_classes = [IsSupervisorOrCompliance]

    def get(self, request: Request) -> Response:
        if request.query_params.get("refresh") in ("1", "true"):
            degradation_evaluate()
        return Response(degradation_overview(user=request.user))


class ModeForceApi(APIView):
    """Force a queue's mode for a flow (`normal`, `degraded`) or hand it back to the evaluator (`auto`)."""

    permission_classes = [IsSupervisorOrCompliance]

    class InputSerializer(serializers.Serializer):
        mode = serializers.ChoiceField(choices=["normal", "degraded", "auto"])

    @extend_schema(request=InputSerializer)
    def post(self, request: Request, flow: str, queue: str) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        row = mode_force(flow=flow, queue=queue, actor=request.user, mode=data.validated_data["mode"])
        return Response({"flow": row.flow, "queue": queue, "mode": row.mode, "forced": row.forced or None})


def _automation(state: Any) -> dict[str, Any]:
    return {
        "flow": state.flow,
        "paused": state.paused,
        "paused_by": state.paused_by.get_username() if state.paused_by_id else None,
        "paused_at": _when(state.paused_at),
        "breaker": state.breaker,
        "breaker_reason": state.breaker_reason,
        "psi": state.last_psi,
    }


class FlowPauseApi(APIView):
    """Pause automation for a flow: every decision routed from now on goes to people."""

    permission_classes = [IsSupervisorOrCompliance]

    class InputSerializer(serializers.Serializer):
        reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)

    @extend_schema(request=InputSerializer)
    def post(self, request: Request, flow: str) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        state = flow_pause(flow=flow, actor=request.user, reason=data.validated_data["reason"])
        return Response(_automation(state))


def _resume(r: Any) -> dict[str, Any]:
    return {
        "id": str(r.id),
        "flow": r.flow,
        "status": r.status,
        "requested_by": r.requested_by.get_username(),
        "approved_by": r.approved_by.get_username() if r.approved_by_id else None,
        "reason": r.reason,
        "created_at": _when(r.created_at),
        "decided_at": _when(r.decided_at),
    }


class FlowResumeRequestApi(APIView):
    """Ask to resume a paused flow; another supervisor or compliance officer approves."""

    permission_classes = [IsSupervisorOrCompliance]

    class InputSerializer(serializers.Serializer):
        reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)

    @extend_schema(request=InputSerializer)
    def post(self, request: Request, flow: str) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        r = flow_resume_request(flow=flow, actor=request.user, reason=data.validated_data["reason"])
        return Response(_resume(r), status=status.HTTP_201_CREATED)


class FlowResumeApproveApi(APIView):
    """Approve a resume request: four-eyes (not the requester) → 403 `four_eyes`, audited."""

    permission_classes = [IsSupervisorOrCompliance]

    def post(self, request: Request, flow: str, request_id: Any) -> Response:
        r = flow_resume_approve(request_id=request_id, approver=request.user)
        if r.flow != flow:
            raise NotFound("no such resume request for this flow", field="request_id")
        return Response(_resume(r))


class ModelFailureReportApi(APIView):
    """A client system reports a model failure (timeouts, errors, garbage output); the breaker counts them."""

    permission_classes = [IsServiceAccount | IsSupervisorOrCompliance]

    class InputSerializer(serializers.Serializer):
        reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)
        model_version = serializers.CharField(required=False, allow_blank=True, default="", max_length=100)

    @extend_schema(request=InputSerializer)
    def post(self, request: Request, flow: str) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        state = model_failure_report(flow=flow, actor=request.user, **data.validated_data)
        return Response(_automation(state), status=status.HTTP_202_ACCEPTED)


class BreakerForceApi(APIView):
    """A supervisor opens the model breaker by hand, or closes it (a fresh drift baseline is taken)."""

    permission_classes = [IsSupervisorOrCompliance]

    class InputSerializer(serializers.Serializer):
        state = serializers.ChoiceField(choices=["open", "closed"])
        reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)

    @extend_schema(request=InputSerializer)
    def post(self, request: Request, flow: str) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        state = breaker_force(flow=flow, actor=request.user, **data.validated_data)
        return Response(_automation(state))

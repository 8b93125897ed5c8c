import json
from typing import Any

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from orchestrator.api.permissions import IsServiceAccount
from orchestrator.errors import NotFound
from orchestrator.selectors.decisions import decision_get
from orchestrator.services.decisions import decision_submit


class DecisionOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    flow = serializers.CharField()
    idempotency_key = serializers.CharField()
    status = serializers.CharField()
    route = serializers.CharField(allow_null=True)
    outcome = serializers.CharField(allow_null=True)
    output = serializers.JSONField()
    confidence = serializers.FloatField()
    final_output = serializers.JSONField(allow_null=True)
    policy_version = serializers.IntegerField(allow_null=True)
    explanation = serializers.JSONField()
    model = serializers.DictField()
    workflow_id = serializers.CharField()
    created_at = serializers.DateTimeField()
    completed_at = serializers.DateTimeField(allow_null=True)
    revocation = serializers.DictField(allow_null=True)

    def to_representation(self, decision: Any) -> dict[str, Any]:
        revocation = getattr(decision, "revocation", None)  # the reverse one-to-one, when there is one
        return {
            "id": str(decision.id),
            "flow": decision.flow,
            "idempotency_key": decision.idempotency_key,
            "status": decision.status,
            "route": decision.route or None,
            "outcome": decision.outcome or None,
            "output": decision.output,
            "confidence": decision.confidence,
            "final_output": decision.final_output,
            "policy_version": decision.policy.version if decision.policy_id else None,
            "explanation": decision.explanation,
            "model": {"name": decision.model_name, "version": decision.model_version},
            "workflow_id": decision.workflow_id,
            "created_at": serializers.DateTimeField().to_representation(decision.created_at),
            "completed_at": (
                serializers.DateTimeField().to_representation(decision.completed_at) if decision.completed_at else None
            ),
            # An auto-decision made under degradation that a QA reviewer rejected within its window.
            "revocation": (
                {
                    "verdict": revocation.verdict,
                    "reason": revocation.reason,
                    "at": serializers.DateTimeField().to_representation(revocation.created_at),
                }
                if revocation
                else None
            ),
        }


def _json_object_within_limit(value: Any) -> Any:
    """A JSON object whose compact encoding fits HANDRAIL_MAX_PAYLOAD_BYTES (the payload, the model's inputs)."""
    if not isinstance(value, dict):
        raise serializers.ValidationError("must be a JSON object")
    size = len(json.dumps(value, separators=(",", ":")).encode())
    if size > settings.HANDRAIL_MAX_PAYLOAD_BYTES:
        raise serializers.ValidationError(f"is {size} bytes; the limit is {settings.HANDRAIL_MAX_PAYLOAD_BYTES} bytes")
    return value


class DecisionSubmitApi(APIView):
    """Submit a model's decision. The same idempotency key again returns the first decision (200)."""

    permission_classes = [IsServiceAccount]

    class ModelSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=200)
        version = serializers.CharField(max_length=100)

    class InputSerializer(serializers.Serializer):
        """A finished decision (`model`, `output`, `confidence`), or `inputs` for a flow with a model step.

        The payload is checked against the flow's input schema and the output against its output
        schema by the service (400 naming the field, e.g. `payload.amount`).
        """

        flow = serializers.CharField(max_length=100)
        idempotency_key = serializers.CharField(max_length=200)
        model = serializers.DictField(required=False)  # replaced in __init__ by the nested serializer
        output = serializers.JSONField(required=False)
        confidence = serializers.FloatField(min_value=0.0, max_value=1.0, required=False)
        inputs = serializers.JSONField(required=False)
        payload = serializers.JSONField(required=False, default=dict)
        risk = serializers.JSONField(required=False, default=dict)
        exclude_reviewers = serializers.ListField(
            child=serializers.CharField(max_length=150), required=False, default=list, max_length=100
        )

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.fields["model"] = DecisionSubmitApi.ModelSerializer(required=False)

        def validate_payload(self, value: Any) -> Any:
            return _json_object_within_limit(value)

        def validate_risk(self, value: Any) -> Any:
            if not isinstance(value, dict):
                raise serializers.ValidationError("must be a JSON object")
            return value

        def validate_output(self, value: Any) -> Any:
            if value is None:
                raise serializers.ValidationError("is required")
            return value

        def validate_inputs(self, value: Any) -> Any:
            return _json_object_within_limit(value)

    class OutputSerializer(serializers.Serializer):
        id = serializers.UUIDField()
        status = serializers.CharField()
        workflow_id = serializers.CharField()

    @extend_schema(request=InputSerializer, responses={200: OutputSerializer, 201: OutputSerializer})
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        decision, created = decision_submit(
            submitted_by=request.user,
            flow=v["flow"],
            idempotency_key=v["idempotency_key"],
            model_name=v.get("model", {}).get("name", ""),
            model_version=v.get("model", {}).get("version", ""),
            output=v.get("output"),
            confidence=v.get("confidence"),
            inputs=v.get("inputs"),
            payload=v["payload"],
            risk=v["risk"],
            excluded_reviewers=v["exclude_reviewers"],
            request_id=request.headers.get("X-Request-Id", ""),
        )
        body = {"id": str(decision.id), "status": decision.status, "workflow_id": decision.workflow_id}
        return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class DecisionDetailApi(APIView):
    """A decision's state: status, route, outcome, final output, the policy version that routed it."""

    @extend_schema(responses={200: DecisionOutputSerializer})
    def get(self, request: Request, decision_id: str) -> Response:
        decision = decision_get(decision_id=decision_id)
        if decision is None:
            raise NotFound(f"decision {decision_id} does not exist", field="id")
        return Response(DecisionOutputSerializer(decision).data)

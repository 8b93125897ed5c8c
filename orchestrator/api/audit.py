from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from orchestrator.api.permissions import CanReadAudit
from orchestrator.errors import ValidationFailed
from orchestrator.selectors.decisions import audit_events_for_decision


class AuditEventListApi(APIView):
    """Audit events of one decision, oldest first."""

    permission_classes = [CanReadAudit]

    class FilterSerializer(serializers.Serializer):
        decision = serializers.UUIDField()

    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        partition = serializers.IntegerField()
        seq = serializers.IntegerField()
        occurred_at = serializers.DateTimeField()
        kind = serializers.CharField()
        outcome = serializers.CharField()
        actor = serializers.CharField()
        actor_roles = serializers.ListField(child=serializers.CharField())
        decision_id = serializers.UUIDField(allow_null=True)
        flow = serializers.CharField()
        queue = serializers.CharField()
        subject_type = serializers.CharField()
        subject_id = serializers.CharField()
        data = serializers.JSONField()
        prev_hash = serializers.CharField()
        hash = serializers.CharField()

    @extend_schema(
        parameters=[OpenApiParameter("decision", str, required=True, description="decision id")],
        responses={200: OutputSerializer(many=True)},
    )
    def get(self, request: Request) -> Response:
        filters = self.FilterSerializer(data=request.query_params)
        if not filters.is_valid():
            field, errors = next(iter(filters.errors.items()))
            raise ValidationFailed(str(errors[0]), field=field)
        events: Any = audit_events_for_decision(decision_id=filters.validated_data["decision"])
        return Response(self.OutputSerializer(events, many=True).data)

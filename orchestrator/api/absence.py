from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from orchestrator.api.tasks import _user_by_name
from orchestrator.services.absence import absence_clear, absence_set


class AbsenceApi(APIView):
    """Out of office: set (PUT) or end (DELETE) the caller's absence window and delegate."""

    class InputSerializer(serializers.Serializer):
        starts_at = serializers.DateTimeField()
        ends_at = serializers.DateTimeField()
        delegate = serializers.CharField(max_length=150)

    class OutputSerializer(serializers.Serializer):
        starts_at = serializers.DateTimeField()
        ends_at = serializers.DateTimeField()
        delegate = serializers.CharField(source="delegate.username")

    @extend_schema(request=InputSerializer, responses={200: OutputSerializer})
    def put(self, request: Request) -> Response:
        form = self.InputSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data: dict[str, Any] = form.validated_data
        absence = absence_set(
            user=request.user,
            delegate=_user_by_name(data["delegate"]),
            starts_at=data["starts_at"],
            ends_at=data["ends_at"],
        )
        return Response(self.OutputSerializer(absence).data)

    @extend_schema(request=None, responses={204: None})
    def delete(self, request: Request) -> Response:
        absence_clear(user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

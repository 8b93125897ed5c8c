from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from orchestrator.selectors.queues import queue_depths_for
from orchestrator.services.reviews import review_submit
from orchestrator.services.tasks import task_claim_next


class TaskOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    queue = serializers.CharField()
    state = serializers.CharField()
    priority = serializers.IntegerField()
    decision = serializers.DictField()
    lease_expires_at = serializers.DateTimeField(allow_null=True)

    def to_representation(self, task: Any) -> dict[str, Any]:
        decision = task.decision
        return {
            "id": str(task.id),
            "queue": task.queue.slug,
            "state": task.state,
            "priority": task.priority,
            "lease_expires_at": serializers.DateTimeField().to_representation(task.lease_expires_at)
            if task.lease_expires_at
            else None,
            "decision": {
                "id": str(decision.id),
                "flow": decision.flow,
                "output": decision.output,
                "confidence": decision.confidence,
                "payload": decision.payload,
                "risk": decision.risk,
                "explanation": decision.explanation,
            },
        }


class QueueListApi(APIView):
    """The queues the caller works or supervises, with their depth."""

    class OutputSerializer(serializers.Serializer):
        slug = serializers.CharField()
        name = serializers.CharField()
        description = serializers.CharField()
        ready = serializers.IntegerField()
        reserved = serializers.IntegerField()
        oldest_ready_at = serializers.DateTimeField(allow_null=True)

    @extend_schema(responses={200: OutputSerializer(many=True)})
    def get(self, request: Request) -> Response:
        depths = queue_depths_for(user=request.user)
        return Response(self.OutputSerializer(depths, many=True).data)


class TaskClaimNextApi(APIView):
    """Claim the caller's next task in a queue (the one they hold, else the first ready). 204 when none."""

    @extend_schema(request=None, responses={200: TaskOutputSerializer, 204: OpenApiResponse(description="no task")})
    def post(self, request: Request, slug: str) -> Response:
        task = task_claim_next(queue_slug=slug, user=request.user)
        if task is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(TaskOutputSerializer(task).data)


class TaskReviewApi(APIView):
    """Submit a verdict on a task you hold: approve, reject (reason required) or modify (output required)."""

    class InputSerializer(serializers.Serializer):
        verdict = serializers.ChoiceField(choices=["approve", "reject", "modify"])
        reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=5000)
        output = serializers.JSONField(required=False, default=None)

    class OutputSerializer(serializers.Serializer):
        id = serializers.UUIDField()
        task = serializers.UUIDField()
        verdict = serializers.CharField()

    @extend_schema(request=InputSerializer, responses={201: OutputSerializer})
    def post(self, request: Request, task_id: str) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        review = review_submit(
            task_id=task_id,
            reviewer=request.user,
            verdict=data.validated_data["verdict"],
            reason=data.validated_data["reason"],
            output=data.validated_data["output"],
            request_id=request.headers.get("X-Request-Id", ""),
        )
        return Response(
            {"id": str(review.id), "task": str(review.task_id), "verdict": review.verdict},
            status=status.HTTP_201_CREATED,
        )

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from orchestrator.api.tasks import TaskOutputSerializer
from orchestrator.errors import NotFound
from orchestrator.models import Queue
from orchestrator.selectors.queues import queue_depths_for
from orchestrator.selectors.tasks import queue_stats
from orchestrator.services.task_rules import is_member, require_supervisor
from orchestrator.services.tasks import task_claim_next


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


class QueueStatsApi(APIView):
    """A queue's depth by state, oldest ready task, SLA at risk and breached, load per reviewer."""

    class OutputSerializer(serializers.Serializer):
        slug = serializers.CharField()
        name = serializers.CharField()
        ready = serializers.IntegerField()
        held = serializers.IntegerField()
        suspended = serializers.IntegerField()
        info_requested = serializers.IntegerField()
        escalated = serializers.IntegerField()
        oldest_ready_at = serializers.DateTimeField(allow_null=True)
        sla_at_risk = serializers.IntegerField()
        sla_breached = serializers.IntegerField()
        load = serializers.DictField(child=serializers.IntegerField())

    @extend_schema(responses={200: OutputSerializer})
    def get(self, request: Request, slug: str) -> Response:
        queue = Queue.objects.filter(slug=slug).first()
        if queue is None:
            raise NotFound(f"queue {slug!r} does not exist", field="queue")
        if not is_member(queue=queue, user=request.user):
            require_supervisor(queue=queue, user=request.user)
        return Response(self.OutputSerializer(queue_stats(queue=queue)).data)


class TaskClaimNextApi(APIView):
    """Claim the caller's next task in a queue (the one they hold, else the next eligible). 204 when none."""

    @extend_schema(request=None, responses={200: TaskOutputSerializer, 204: OpenApiResponse(description="no task")})
    def post(self, request: Request, slug: str) -> Response:
        task: Any = task_claim_next(queue_slug=slug, user=request.user)
        if task is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(TaskOutputSerializer(task, context={"user": request.user}).data)

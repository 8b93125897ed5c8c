"""Task endpoints: one small API class per lifecycle action, all answering with the task."""

from typing import Any

from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from orchestrator.errors import NotFound
from orchestrator.selectors.tasks import task_comments, task_get_visible, task_model_output_hidden
from orchestrator.services import tasks as task_services
from orchestrator.services.reviews import review_submit


def _iso(value: Any) -> str | None:
    return serializers.DateTimeField().to_representation(value) if value else None


def _username(user: Any) -> str | None:
    return user.get_username() if user else None


class TaskOutputSerializer(serializers.Serializer):
    """A task as its viewer may see it: in a blind queue the model's output waits for a first judgement."""

    id = serializers.UUIDField()
    queue = serializers.CharField()
    kind = serializers.CharField()
    state = serializers.CharField()
    priority = serializers.IntegerField()
    escalation_level = serializers.IntegerField()
    tier = serializers.CharField()
    required_reviewers = serializers.IntegerField()
    reviews_done = serializers.IntegerField()
    claimed_by = serializers.CharField(allow_null=True)
    assigned_to = serializers.CharField(allow_null=True)
    acting_for = serializers.CharField(allow_null=True)
    lease_expires_at = serializers.DateTimeField(allow_null=True)
    due_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    model_output_hidden = serializers.BooleanField()
    decision = serializers.DictField()

    def to_representation(self, task: Any) -> dict[str, Any]:
        user = self.context.get("user")
        hidden = bool(user) and task_model_output_hidden(task=task, user=user)
        decision = task.decision
        return {
            "id": str(task.id),
            "queue": task.queue.slug,
            "kind": task.kind,
            "state": task.state,
            "priority": task.priority,
            "escalation_level": task.escalation_level,
            "tier": task.tier,
            "required_reviewers": task.required_reviewers,
            "reviews_done": task.reviews.count(),
            "claimed_by": _username(task.claimed_by),
            "assigned_to": _username(task.assigned_to),
            "acting_for": _username(task.acting_for),
            "lease_expires_at": _iso(task.lease_expires_at),
            "due_at": _iso(task.due_at),
            "created_at": _iso(task.created_at),
            "model_output_hidden": hidden,
            "decision": {
                "id": str(decision.id),
                "flow": decision.flow,
                "payload": decision.payload,
                "risk": decision.risk,
                "output": None if hidden else decision.output,
                "confidence": None if hidden else decision.confidence,
                "explanation": None if hidden else decision.explanation,
            },
        }


def _user_by_name(username: str) -> Any:
    user = get_user_model().objects.filter(username=username, is_active=True).first()
    if user is None:
        raise NotFound(f"no active user {username!r}", field="to")
    return user


class TaskDetailApi(APIView):
    """One task, with its comments."""

    @extend_schema(responses={200: TaskOutputSerializer})
    def get(self, request: Request, task_id: str) -> Response:
        task = task_get_visible(task_id=task_id, user=request.user)
        if task is None:
            raise NotFound(f"task {task_id} does not exist in your queues", field="task")
        body = TaskOutputSerializer(task, context={"user": request.user}).data
        body["comments"] = [
            {"author": c.author.get_username(), "kind": c.kind, "text": c.text, "created_at": _iso(c.created_at)}
            for c in task_comments(task_id=task.id)
        ]
        return Response(body)


class _TaskActionApi(APIView):
    """POST an action on a task; the answer is the task after it. Subclasses define `act`."""

    class InputSerializer(serializers.Serializer):
        pass

    success_status = status.HTTP_200_OK

    def act(self, request: Request, task_id: str, data: dict[str, Any]) -> Any:
        raise NotImplementedError

    def post(self, request: Request, task_id: str) -> Response:
        form = self.InputSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        self.act(request, task_id, dict(form.validated_data))
        task = task_get_visible(task_id=task_id, user=request.user)
        if task is None:  # acted on, but no longer visible (e.g. reassigned away from a non-member)
            return Response({"id": task_id}, status=self.success_status)
        return Response(TaskOutputSerializer(task, context={"user": request.user}).data, status=self.success_status)


class TaskClaimApi(_TaskActionApi):
    """Claim this task (a lease that expires unless renewed)."""

    def act(self, request: Request, task_id: str, data: dict[str, Any]) -> Any:
        return task_services.task_claim(task_id=task_id, user=request.user)


class TaskStartApi(_TaskActionApi):
    """Start working on a claimed task (reserved → in_progress)."""

    def act(self, request: Request, task_id: str, data: dict[str, Any]) -> Any:
        return task_services.task_start(task_id=task_id, user=request.user)


class TaskRenewApi(_TaskActionApi):
    """Renew the caller's lease on a task."""

    def act(self, request: Request, task_id: str, data: dict[str, Any]) -> Any:
        return task_services.task_renew_lease(task_id=task_id, user=request.user)


class TaskReleaseApi(_TaskActionApi):
    """Give a held task back to the queue."""

    def act(self, request: Request, task_id: str, data: dict[str, Any]) -> Any:
        return task_services.task_release(task_id=task_id, user=request.user)


class TaskSkipApi(_TaskActionApi):
    """Pass on a held task, with a note."""

    class InputSerializer(serializers.Serializer):
        note = serializers.CharField(max_length=2000)

    def act(self, request: Request, task_id: str, data: dict[str, Any]) -> Any:
        return task_services.task_skip(task_id=task_id, user=request.user, note=data["note"])


class TaskJudgementApi(_TaskActionApi):
    """Blind queues: the reviewer's first judgement, before the model's output is shown."""

    class InputSerializer(serializers.Serializer):
        verdict = serializers.ChoiceField(choices=["approve", "reject", "modify"])

    def act(self, request: Request, task_id: str, data: dict[str, Any]) -> Any:
        return task_services.task_judge_blind(task_id=task_id, user=request.user, verdict=data["verdict"])


class TaskRequestInfoApi(_TaskActionApi):
    """Ask for more information; the task waits in `info_requested`."""

    class InputSerializer(serializers.Serializer):
        question = serializers.CharField(max_length=5000)

    def act(self, request: Request, task_id: str, data: dict[str, Any]) -> Any:
        return task_services.task_request_info(task_id=task_id, user=request.user, question=data["question"])


class TaskProvideInfoApi(_TaskActionApi):
    """Answer an information request."""

    class InputSerializer(serializers.Serializer):
        info = serializers.CharField(max_length=20000)

    def act(self, request: Request, task_id: str, data: dict[str, Any]) -> Any:
        return task_services.task_provide_info(task_id=task_id, user=request.user, info=data["info"])


class TaskCommentApi(_TaskActionApi):
    """Comment on a task."""

    success_status = status.HTTP_201_CREATED

    class InputSerializer(serializers.Serializer):
        text = serializers.CharField(max_length=5000)

    def act(self, request: Request, task_id: str, data: dict[str, Any]) -> Any:
        return task_services.task_comment(task_id=task_id, user=request.user, text=data["text"])


class TaskReassignApi(_TaskActionApi):
    """Supervisors: give the task to a named reviewer (their delegate when they are away)."""

    class InputSerializer(serializers.Serializer):
        to = serializers.CharField(max_length=150)

    def act(self, request: Request, task_id: str, data: dict[str, Any]) -> Any:
        to_user = _user_by_name(data["to"])
        return task_services.task_reassign(task_id=task_id, supervisor=request.user, to_user=to_user)


class TaskSuspendApi(_TaskActionApi):
    """Supervisors: suspend a task."""

    class InputSerializer(serializers.Serializer):
        reason = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")

    def act(self, request: Request, task_id: str, data: dict[str, Any]) -> Any:
        return task_services.task_suspend(task_id=task_id, supervisor=request.user, reason=data["reason"])


class TaskResumeApi(_TaskActionApi):
    """Supervisors: resume a suspended task where it was."""

    def act(self, request: Request, task_id: str, data: dict[str, Any]) -> Any:
        return task_services.task_resume(task_id=task_id, supervisor=request.user)


class TaskPriorityApi(_TaskActionApi):
    """Supervisors: change a task's priority."""

    class InputSerializer(serializers.Serializer):
        priority = serializers.IntegerField(min_value=-1000, max_value=1000)

    def act(self, request: Request, task_id: str, data: dict[str, Any]) -> Any:
        return task_services.task_set_priority(task_id=task_id, supervisor=request.user, priority=data["priority"])


class TaskCancelApi(_TaskActionApi):
    """Supervisors: cancel an open task."""

    class InputSerializer(serializers.Serializer):
        reason = serializers.CharField(max_length=2000)

    def act(self, request: Request, task_id: str, data: dict[str, Any]) -> Any:
        return task_services.task_cancel(task_id=task_id, actor=request.user, reason=data["reason"])


class TaskReviewApi(APIView):
    """Submit a verdict on a task you hold: approve, reject or modify (reason code required on reject/modify)."""

    class InputSerializer(serializers.Serializer):
        verdict = serializers.ChoiceField(choices=["approve", "reject", "modify"])
        reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=200)
        comment = serializers.CharField(required=False, allow_blank=True, default="", max_length=5000)
        output = serializers.JSONField(required=False, default=None)

    class OutputSerializer(serializers.Serializer):
        id = serializers.UUIDField()
        task = serializers.UUIDField()
        verdict = serializers.CharField()

    @extend_schema(request=InputSerializer, responses={201: OutputSerializer})
    def post(self, request: Request, task_id: str) -> Response:
        form = self.InputSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        review = review_submit(
            task_id=task_id,
            reviewer=request.user,
            verdict=data["verdict"],
            reason=data["reason"],
            comment=data["comment"],
            output=data["output"],
            request_id=request.headers.get("X-Request-Id", ""),
        )
        return Response(
            {"id": str(review.id), "task": str(review.task_id), "verdict": review.verdict},
            status=status.HTTP_201_CREATED,
        )


class TaskBulkApi(APIView):
    """Supervisors: reassign or approve many tasks; each is checked on its own, with a result per item."""

    class InputSerializer(serializers.Serializer):
        action = serializers.ChoiceField(choices=["reassign", "approve"])
        task_ids = serializers.ListField(child=serializers.UUIDField(), min_length=1, max_length=500)
        to = serializers.CharField(max_length=150, required=False)
        reason = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")

        def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
            if attrs["action"] == "reassign" and not attrs.get("to"):
                raise serializers.ValidationError({"to": "reassign needs the reviewer to give the tasks to"})
            return attrs

    class ItemSerializer(serializers.Serializer):
        task_id = serializers.CharField()
        ok = serializers.BooleanField()
        error = serializers.CharField(allow_null=True)
        reason = serializers.CharField(allow_null=True)
        state = serializers.CharField(allow_null=True)

    @extend_schema(request=InputSerializer, responses={200: ItemSerializer(many=True)})
    def post(self, request: Request) -> Response:
        form = self.InputSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        if data["action"] == "reassign":
            results = task_services.tasks_bulk_reassign(
                task_ids=data["task_ids"], supervisor=request.user, to_user=_user_by_name(data["to"])
            )
        else:
            results = task_services.tasks_bulk_approve(
                task_ids=data["task_ids"], supervisor=request.user, reason=data["reason"]
            )
        return Response({"results": self.ItemSerializer(results, many=True).data})

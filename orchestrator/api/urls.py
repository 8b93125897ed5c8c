from django.urls import path

from orchestrator.api.audit import AuditEventListApi
from orchestrator.api.auth import HealthApi, TokenObtainApi
from orchestrator.api.decisions import DecisionDetailApi, DecisionSubmitApi
from orchestrator.api.queues import QueueListApi, TaskClaimNextApi, TaskReviewApi

app_name = "api"

urlpatterns = [
    path("health", HealthApi.as_view(), name="health"),
    path("auth/token/", TokenObtainApi.as_view(), name="token"),
    path("decisions", DecisionSubmitApi.as_view(), name="decision-submit"),
    path("decisions/<uuid:decision_id>", DecisionDetailApi.as_view(), name="decision-detail"),
    path("queues/", QueueListApi.as_view(), name="queue-list"),
    path("queues/<slug:slug>/claim", TaskClaimNextApi.as_view(), name="task-claim-next"),
    path("tasks/<uuid:task_id>/review", TaskReviewApi.as_view(), name="task-review"),
    path("audit/events", AuditEventListApi.as_view(), name="audit-events"),
]

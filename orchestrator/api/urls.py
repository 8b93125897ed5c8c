from django.urls import path

from orchestrator.api import audit as audit_api
from orchestrator.api import ops as ops_api
from orchestrator.api import policies as policy_api
from orchestrator.api import tasks as task_api
from orchestrator.api.absence import AbsenceApi
from orchestrator.api.audit import (
    AuditEventExportStreamApi,
    AuditEventListApi,
    AuditExportCreateApi,
    AuditExportDetailApi,
    AuditExportDownloadApi,
    AuditPublicKeyApi,
    AuditVerifyApi,
)
from orchestrator.api.auth import HealthApi, TokenObtainApi
from orchestrator.api.decisions import DecisionDetailApi, DecisionSubmitApi
from orchestrator.api.queues import QueueListApi, QueueStatsApi, TaskClaimNextApi

app_name = "api"

urlpatterns = [
    path("health", HealthApi.as_view(), name="health"),
    path("auth/token/", TokenObtainApi.as_view(), name="token"),
    path("decisions", DecisionSubmitApi.as_view(), name="decision-submit"),
    path("decisions/<uuid:decision_id>", DecisionDetailApi.as_view(), name="decision-detail"),
    path("queues/", QueueListApi.as_view(), name="queue-list"),
    path("queues/<slug:slug>", QueueStatsApi.as_view(), name="queue-stats"),
    path("queues/<slug:slug>/claim", TaskClaimNextApi.as_view(), name="task-claim-next"),
    path("tasks/bulk", task_api.TaskBulkApi.as_view(), name="task-bulk"),
    path("tasks/<uuid:task_id>", task_api.TaskDetailApi.as_view(), name="task-detail"),
    path("tasks/<uuid:task_id>/review", task_api.TaskReviewApi.as_view(), name="task-review"),
    path("tasks/<uuid:task_id>/claim", task_api.TaskClaimApi.as_view(), name="task-claim"),
    path("tasks/<uuid:task_id>/start", task_api.TaskStartApi.as_view(), name="task-start"),
    path("tasks/<uuid:task_id>/renew", task_api.TaskRenewApi.as_view(), name="task-renew"),
    path("tasks/<uuid:task_id>/release", task_api.TaskReleaseApi.as_view(), name="task-release"),
    path("tasks/<uuid:task_id>/skip", task_api.TaskSkipApi.as_view(), name="task-skip"),
    path("tasks/<uuid:task_id>/judgement", task_api.TaskJudgementApi.as_view(), name="task-judgement"),
    path("tasks/<uuid:task_id>/request-info", task_api.TaskRequestInfoApi.as_view(), name="task-request-info"),
    path("tasks/<uuid:task_id>/provide-info", task_api.TaskProvideInfoApi.as_view(), name="task-provide-info"),
    path("tasks/<uuid:task_id>/comments", task_api.TaskCommentApi.as_view(), name="task-comment"),
    path("tasks/<uuid:task_id>/reassign", task_api.TaskReassignApi.as_view(), name="task-reassign"),
    path("tasks/<uuid:task_id>/suspend", task_api.TaskSuspendApi.as_view(), name="task-suspend"),
    path("tasks/<uuid:task_id>/resume", task_api.TaskResumeApi.as_view(), name="task-resume"),
    path("tasks/<uuid:task_id>/priority", task_api.TaskPriorityApi.as_view(), name="task-priority"),
    path("tasks/<uuid:task_id>/cancel", task_api.TaskCancelApi.as_view(), name="task-cancel"),
    path("me/absence", AbsenceApi.as_view(), name="absence"),
    path("audit/events", AuditEventListApi.as_view(), name="audit-events"),
    path("audit/events/export", AuditEventExportStreamApi.as_view(), name="audit-events-export"),
    path("audit/verify", AuditVerifyApi.as_view(), name="audit-verify"),
    path("audit/legal-holds", audit_api.LegalHoldListCreateApi.as_view(), name="audit-legal-holds"),
    path(
        "audit/legal-holds/<int:hold_id>/release",
        audit_api.LegalHoldReleaseApi.as_view(),
        name="audit-legal-hold-release",
    ),
    path("audit/public-key", AuditPublicKeyApi.as_view(), name="audit-public-key"),
    path("audit/exports", AuditExportCreateApi.as_view(), name="audit-export-create"),
    path("audit/exports/<uuid:export_id>", AuditExportDetailApi.as_view(), name="audit-export-detail"),
    path("audit/exports/<uuid:export_id>/download", AuditExportDownloadApi.as_view(), name="audit-export-download"),
    path("webhooks", ops_api.WebhookListCreateApi.as_view(), name="webhook-list"),
    path("notifications", ops_api.NotificationListApi.as_view(), name="notification-list"),
    path("notifications/<int:notification_id>", ops_api.NotificationDetailApi.as_view(), name="notification-detail"),
    path(
        "notifications/<int:notification_id>/redeliver",
        ops_api.NotificationRedeliverApi.as_view(),
        name="notification-redeliver",
    ),
    path("modes", ops_api.ModeListApi.as_view(), name="mode-list"),
    path("modes/<str:flow>/<slug:queue>", ops_api.ModeForceApi.as_view(), name="mode-force"),
    path("flows/<str:flow>/pause", ops_api.FlowPauseApi.as_view(), name="flow-pause"),
    path("flows/<str:flow>/resume-requests", ops_api.FlowResumeRequestApi.as_view(), name="flow-resume-request"),
    path(
        "flows/<str:flow>/resume-requests/<uuid:request_id>/approve",
        ops_api.FlowResumeApproveApi.as_view(),
        name="flow-resume-approve",
    ),
    path("flows/<str:flow>/model-failures", ops_api.ModelFailureReportApi.as_view(), name="flow-model-failures"),
    path("flows/<str:flow>/breaker", ops_api.BreakerForceApi.as_view(), name="flow-breaker"),
    path("policies", policy_api.PolicyListCreateApi.as_view(), name="policy-list"),
    path("policies/diff", policy_api.PolicyDiffApi.as_view(), name="policy-diff"),
    path("policies/backtest", policy_api.PolicyBacktestApi.as_view(), name="policy-backtest"),
    path("policies/calibration", policy_api.PolicyCalibrationApi.as_view(), name="policy-calibration"),
    path("policies/<int:policy_id>", policy_api.PolicyDetailApi.as_view(), name="policy-detail"),
    path("policies/<int:policy_id>/submit", policy_api.PolicySubmitApi.as_view(), name="policy-submit"),
    path("policies/<int:policy_id>/approve", policy_api.PolicyApproveApi.as_view(), name="policy-approve"),
    path("policies/<int:policy_id>/send-back", policy_api.PolicySendBackApi.as_view(), name="policy-send-back"),
    path("policies/<int:policy_id>/retire", policy_api.PolicyRetireApi.as_view(), name="policy-retire"),
]

from django.contrib.auth import views as auth_views
from django.urls import path

from review_ui.views import compliance, policies, supervise, work

app_name = "review_ui"

urlpatterns = [
    path(
        "login/",
        auth_views.LoginView.as_view(template_name="review_ui/login.html", redirect_authenticated_user=True),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    # reviewers: inbox and work mode
    path("", work.inbox, name="inbox"),
    path("queues/<slug:slug>/next", work.claim_next, name="claim_next"),
    path("tasks/<uuid:task_id>", work.task_detail, name="task_detail"),
    path("tasks/<uuid:task_id>/review", work.task_review, name="task_review"),
    path("tasks/<uuid:task_id>/renew", work.task_renew, name="task_renew"),
    path("tasks/<uuid:task_id>/judgement", work.task_judge, name="task_judge"),
    path("tasks/<uuid:task_id>/comment", work.task_add_comment, name="task_comment"),
    path("tasks/<uuid:task_id>/skip", work.task_skip_view, name="task_skip"),
    path("tasks/<uuid:task_id>/request-info", work.task_request_info_view, name="task_request_info"),
    path("tasks/<uuid:task_id>/release", work.task_release_view, name="task_release"),
    # supervisors
    path("supervise/", supervise.board, name="board"),
    path("supervise/escalations", supervise.escalations, name="escalations"),
    path("supervise/queues/<slug:slug>", supervise.queue_detail, name="queue_board"),
    path("supervise/flows/<str:flow>/<str:action>", supervise.automation_action, name="automation_action"),
    # policies (supervisors, compliance)
    path("policies/", policies.policy_index, name="policies"),
    path("policies/diff", policies.policy_compare, name="policy_diff"),
    path("policies/<int:policy_id>", policies.policy_detail, name="policy_detail"),
    path("policies/<int:policy_id>/backtest", policies.policy_backtest_view, name="policy_backtest"),
    path(
        "policies/<int:policy_id>/<str:action>",
        policies.policy_action,
        name="policy_action",
    ),
    # compliance
    path("compliance/audit", compliance.audit_search_view, name="audit_search"),
    path("compliance/decisions/<uuid:decision_id>", compliance.decision_timeline, name="decision_timeline"),
    path("compliance/exports", compliance.exports, name="exports"),
    path("compliance/exports/<uuid:export_id>", compliance.export_status, name="export_status"),
    path("compliance/exports/<uuid:export_id>/download", compliance.export_download, name="export_download"),
    path("compliance/verify", compliance.verification, name="verify"),
]

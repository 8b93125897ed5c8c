from django.contrib.auth import views as auth_views
from django.urls import path

from review_ui import views

app_name = "review_ui"

urlpatterns = [
    path(
        "login/",
        auth_views.LoginView.as_view(template_name="review_ui/login.html", redirect_authenticated_user=True),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", views.inbox, name="inbox"),
    path("queues/<slug:slug>/next", views.claim_next, name="claim_next"),
    path("tasks/<uuid:task_id>", views.task_detail, name="task_detail"),
    path("tasks/<uuid:task_id>/review", views.task_review, name="task_review"),
]

"""Reviewer pages. Each view parses input, calls one service or selector, and renders the result."""

from typing import Any
from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST, require_safe

from orchestrator.errors import DomainError
from orchestrator.flows import flow_get
from orchestrator.models import ReviewTask, TaskState
from orchestrator.selectors.decisions import audit_events_for_decision
from orchestrator.selectors.queues import queue_depths_for, task_get_for_reviewer, tasks_claimed_by
from orchestrator.services.reviews import review_submit
from orchestrator.services.tasks import task_claim_next
from review_ui.forms import VerdictForm
from review_ui.templatetags.review_ui import pretty_json

VERDICT_MESSAGES = {"approve": "Approved.", "reject": "Rejected.", "modify": "Modified."}


@login_required
@require_safe
def inbox(request: HttpRequest) -> HttpResponse:
    """The reviewer's queues with their depth, and the tasks they hold."""
    return render(
        request,
        "review_ui/inbox.html",
        {
            "queues": queue_depths_for(user=request.user),
            "claimed": tasks_claimed_by(user=request.user),
            "now": timezone.now(),
        },
    )


@login_required
@require_POST
def claim_next(request: HttpRequest, slug: str) -> HttpResponse:
    """Reserve the next task of a queue and open it; back to the inbox when the queue is empty."""
    try:
        task = task_claim_next(queue_slug=slug, user=request.user)
    except DomainError as exc:
        messages.error(request, exc.reason)
        return redirect("review_ui:inbox")
    if task is None:
        name = next((q.name for q in queue_depths_for(user=request.user) if q.slug == slug), slug)
        messages.info(request, f"No tasks waiting in {name}")
        return redirect("review_ui:inbox")
    return redirect("review_ui:task_detail", task_id=task.id)


def _visible_task(*, task_id: UUID, user: Any) -> ReviewTask:
    task = task_get_for_reviewer(task_id=task_id, user=user)
    if task is None:  # not found, or in a queue this user neither works nor supervises
        raise Http404("No such task in your queues.")
    return task


def _render_task(request: HttpRequest, task: ReviewTask, form: VerdictForm, *, status: int = 200) -> HttpResponse:
    decision = task.decision
    now = timezone.now()
    if form.is_bound and form.errors:
        form.focus_first_error()
    held_by_me = task.state == TaskState.RESERVED and task.claimed_by_id == request.user.pk
    lease_expired = task.lease_expires_at is not None and task.lease_expires_at <= now
    return render(
        request,
        "review_ui/task_detail.html",
        {
            "task": task,
            "decision": decision,
            "flow": flow_get(decision.flow),
            "explanation": decision.explanation or {},
            "events": audit_events_for_decision(decision_id=decision.id),
            "form": form,
            "can_review": held_by_me and not lease_expired,
            "lease_expired": task.state == TaskState.RESERVED and lease_expired,
            "now": now,
        },
        status=status,
    )


@login_required
@require_safe
def task_detail(request: HttpRequest, task_id: UUID) -> HttpResponse:
    """The decision under review, why it is here, its history, and the verdict form for its holder."""
    task = _visible_task(task_id=task_id, user=request.user)
    form = VerdictForm(initial={"output": pretty_json(task.decision.output)})
    return _render_task(request, task, form)


@login_required
@require_POST
def task_review(request: HttpRequest, task_id: UUID) -> HttpResponse:
    """Submit a verdict; a refusal re-renders the task page with the reason next to its field."""
    task = _visible_task(task_id=task_id, user=request.user)
    form = VerdictForm(request.POST)
    if not form.is_valid():
        return _render_task(request, task, form, status=400)
    verdict = form.cleaned_data["verdict"]
    try:
        review_submit(
            task_id=task.id,
            reviewer=request.user,
            verdict=verdict,
            reason=form.cleaned_data["reason"],
            output=form.cleaned_data["parsed_output"],
            request_id=request.headers.get("X-Request-Id", ""),
        )
    except DomainError as exc:
        form.add_domain_error(exc)
        return _render_task(request, task, form, status=exc.status)
    messages.success(request, VERDICT_MESSAGES[verdict])
    return redirect("review_ui:inbox")

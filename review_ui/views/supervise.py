"""Supervisor pages: the queue board, one queue's tasks with bulk actions, escalations.

Every action goes through the task services, one item at a time, so the same four-eyes and state
rules apply as anywhere else and each selected task gets its own result.
"""

from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_safe

from orchestrator.errors import DomainError
from orchestrator.models import Queue
from orchestrator.selectors.ui import (
    TASK_LIST_STATES,
    QueueSummary,
    degradation_status,
    queue_board,
    queue_reviewers,
    queue_supervised_by,
    queue_tasks,
    queues_supervised_by,
    tasks_escalated,
)
from orchestrator.services.tasks import (
    BulkItemResult,
    task_resume,
    task_set_priority,
    task_suspend,
    tasks_bulk_approve,
    tasks_bulk_reassign,
)
from review_ui.forms import BulkActionForm, add_domain_error
from review_ui.roles import can_supervise, role_required
from review_ui.throughput import throughput_chart

STATE_TABS = [
    ("open", "All open"),
    ("ready", "Ready"),
    ("held", "Held"),
    ("escalated", "Escalated"),
    ("suspended", "Suspended"),
    ("info_requested", "Waiting for info"),
]


def _charted_board(queues: list[Queue], *, now: datetime) -> list[QueueSummary]:
    """The queues' board rows, each with its throughput chart labelled by the hours it was counted in."""
    summaries = queue_board(queues=queues, now=now)
    for summary in summaries:
        summary.chart = throughput_chart(summary.throughput, now=now)  # type: ignore[attr-defined]
    return summaries


@role_required(can_supervise)
@require_safe
def board(request: HttpRequest) -> HttpResponse:
    """Every supervised queue: depth, age, SLA, throughput over the last day, reviewers and their load."""
    now = timezone.now()
    summaries = _charted_board(queues_supervised_by(user=request.user), now=now)
    return render(
        request,
        "review_ui/supervise/board.html",
        {"queues": summaries, "degradation": degradation_status(), "now": now},
    )


def _each(task_ids: list[str], act: Callable[[str], Any]) -> list[BulkItemResult]:
    """One service call per task; a refusal is that item's result and never stops the others."""
    results = []
    for task_id in task_ids:
        try:
            act(task_id)
        except DomainError as exc:
            state = exc.context.get("state") if exc.context else None
            results.append(BulkItemResult(task_id, False, exc.code, exc.reason, str(state) if state else None))
        else:
            results.append(BulkItemResult(task_id, True))
    return results


def _bulk(request: HttpRequest, form: BulkActionForm, *, reviewers: list[Any]) -> list[BulkItemResult]:
    data = form.cleaned_data
    ids = data["tasks"]
    supervisor = request.user
    action = data["action"]
    if action == "reassign":
        # The form only accepts one of the queue's reviewers, so the person is already at hand.
        to_user = next(u for u in reviewers if u.get_username() == data["to_user"])
        return tasks_bulk_reassign(task_ids=ids, supervisor=supervisor, to_user=to_user)
    if action == "approve":
        return tasks_bulk_approve(task_ids=ids, supervisor=supervisor, reason=data.get("reason") or "")
    if action == "suspend":
        return _each(ids, lambda t: task_suspend(task_id=t, supervisor=supervisor, reason=data.get("reason") or ""))
    if action == "resume":
        return _each(ids, lambda t: task_resume(task_id=t, supervisor=supervisor))
    return _each(ids, lambda t: task_set_priority(task_id=t, supervisor=supervisor, priority=data["priority"]))


@role_required(can_supervise)
@require_http_methods(["GET", "HEAD", "POST"])
def queue_detail(request: HttpRequest, slug: str) -> HttpResponse:
    """One queue: its open tasks in "next task" order, with reassign, approve, suspend/resume, priority."""
    queue = queue_supervised_by(slug=slug, user=request.user)
    if queue is None:
        raise Http404("You do not supervise this queue.")
    state = request.GET.get("state", "open")
    if state not in TASK_LIST_STATES:
        state = "open"
    people = queue_reviewers(queue=queue)
    reviewers = [u.get_username() for u in people]
    results: list[BulkItemResult] = []
    status = 200
    form = None
    if request.method == "POST":
        posted = request.POST.getlist("tasks")
        form = BulkActionForm(request.POST, task_ids=posted, reviewers=reviewers)
        if form.is_valid():
            try:
                results = _bulk(request, form, reviewers=people)
            except DomainError as exc:
                add_domain_error(form, exc)
                status = exc.status
        else:
            status = 400
    tasks = queue_tasks(queue=queue, state=state)
    now = timezone.now()
    [summary] = _charted_board([queue], now=now)
    done = sum(1 for r in results if r.ok)
    return render(
        request,
        "review_ui/supervise/queue.html",
        {
            "queue": queue,
            "summary": summary,
            "tasks": tasks,
            "state": state,
            "tabs": STATE_TABS,
            "reviewers": reviewers,
            "form": form or BulkActionForm(task_ids=[], reviewers=reviewers),
            "results": results,
            "results_ok": done,
            "results_failed": len(results) - done,
            "now": now,
        },
        status=status,
    )


@role_required(can_supervise)
@require_safe
def escalations(request: HttpRequest) -> HttpResponse:
    """Open tasks that escalated, across the supervised queues."""
    tasks = tasks_escalated(queues=queues_supervised_by(user=request.user))
    return render(request, "review_ui/supervise/escalations.html", {"tasks": tasks, "now": timezone.now()})


@role_required(can_supervise)
@require_http_methods(["POST"])
def automation_action(request: HttpRequest, flow: str, action: str) -> HttpResponse:
    """The degradation panel's buttons: pause a flow, request its resume, approve a resume (four-eyes)."""
    from django.contrib import messages
    from django.shortcuts import redirect

    from orchestrator.services.automation import flow_pause, flow_resume_approve, flow_resume_request

    reason = request.POST.get("reason", "")[:2000]
    try:
        if action == "pause":
            flow_pause(flow=flow, actor=request.user, reason=reason)
            messages.success(request, f"Automation paused for {flow}: every decision goes to people.")
        elif action == "resume-request":
            flow_resume_request(flow=flow, actor=request.user, reason=reason)
            messages.success(request, f"Resume of {flow} requested; another supervisor must approve it.")
        elif action == "resume-approve":
            flow_resume_approve(request_id=request.POST.get("request", ""), approver=request.user)
            messages.success(request, f"Automation resumed for {flow}.")
        else:
            raise Http404("unknown action")
    except DomainError as exc:
        messages.error(request, exc.reason)
    return redirect("review_ui:board")

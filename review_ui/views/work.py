"""Reviewer pages: the inbox and work mode. Each view parses input, calls one service or selector, renders.

Work mode: "Next task" claims and opens a task; opening it starts work on it (reserved -> in
progress); the page renews the claim while the reviewer is active; after a verdict (or a skip) the
next task of the same queue opens at once, so a reviewer never hunts for work.
"""

from functools import cache
from typing import Any
from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.template import TemplateDoesNotExist
from django.template.loader import get_template
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST, require_safe

from orchestrator.errors import DomainError
from orchestrator.flows import flow_get
from orchestrator.models import HELD_STATES, ReviewTask, TaskState, Verdict
from orchestrator.selectors.decisions import audit_events_for_decision
from orchestrator.selectors.tasks import task_comments, task_get_visible, task_model_output_hidden
from orchestrator.selectors.ui import decision_reviews, inbox_queues, tasks_held_by
from orchestrator.services.reviews import review_submit
from orchestrator.services.tasks import (
    task_claim_next,
    task_comment,
    task_judge_blind,
    task_release,
    task_renew_lease,
    task_request_info,
    task_skip,
    task_start,
)
from review_ui.forms import (
    CommentForm,
    JudgementForm,
    RequestInfoForm,
    SkipForm,
    VerdictForm,
    add_domain_error,
    output_cleaned,
    output_form_class,
    output_initial,
)
from review_ui.templatetags.review_ui import pretty_json

VERDICT_MESSAGES = {"approve": "Approved.", "reject": "Rejected.", "modify": "Modified."}
# The page renews the claim this often while the reviewer is active (the lease itself is longer).
RENEW_EVERY_SECONDS = 60


@login_required
@require_safe
def inbox(request: HttpRequest) -> HttpResponse:
    """The reviewer's queues (depth, oldest, SLA at risk and breached) and the tasks they hold."""
    return render(
        request,
        "review_ui/inbox.html",
        {"queues": inbox_queues(user=request.user), "claimed": tasks_held_by(user=request.user), "now": timezone.now()},
    )


def _open_next(request: HttpRequest, queue_slug: str, *, done: str | None = None) -> HttpResponse:
    """Claim the next task of the queue and open it; the inbox when there is none (or on a refusal)."""
    try:
        task = task_claim_next(queue_slug=queue_slug, user=request.user)
    except DomainError as exc:
        if done:
            messages.success(request, done)
        messages.error(request, exc.reason)
        return redirect("review_ui:inbox")
    if task is None:
        if done:
            messages.success(request, done)
        else:
            name = next((q.name for q in inbox_queues(user=request.user) if q.slug == queue_slug), queue_slug)
            messages.info(request, f"No tasks waiting in {name}")
        return redirect("review_ui:inbox")
    if done:
        messages.success(request, f"{done} Next task opened.")
    return redirect("review_ui:task_detail", task_id=task.id)


@login_required
@require_POST
def claim_next(request: HttpRequest, slug: str) -> HttpResponse:
    """Reserve the next task of a queue and open it; back to the inbox when the queue is empty."""
    return _open_next(request, slug)


def _visible_task(*, task_id: UUID, user: Any) -> ReviewTask:
    task = task_get_visible(task_id=task_id, user=user)
    if task is None:  # not found, or in a queue this user neither works nor supervises
        raise Http404("No such task in your queues.")
    return task


@cache
def _flow_template(flow: str) -> str | None:
    """The flow's `template` hint, else `review_ui/flows/<flow>.html`, renders the payload when it exists."""
    definition = flow_get(flow)
    name = (definition.template if definition else "") or f"review_ui/flows/{flow}.html"
    try:
        get_template(name)
    except TemplateDoesNotExist:
        return None
    return name


def _display_fields(flow: str, payload: Any) -> list[tuple[str, Any]]:
    """The payload fields the flow asks to show first (`display_fields`, dotted paths), those present."""
    definition = flow_get(flow)
    shown = []
    for path in definition.display_fields if definition else ():
        value: Any = payload
        for part in path.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if value is not None:
            shown.append((path, value))
    return shown


def _output_form(task: ReviewTask, data: Any = None) -> Any:
    flow = flow_get(task.decision.flow)
    if flow is None or flow.output_schema is None:
        return None
    form_class = output_form_class(flow.output_schema)
    return form_class(data, prefix="out", initial=output_initial(task.decision.output))


def _held_by(task: ReviewTask, user: Any) -> bool:
    return task.state in HELD_STATES and task.claimed_by_id == user.pk


def _render_task(
    request: HttpRequest,
    task: ReviewTask,
    *,
    form: VerdictForm | None = None,
    output_form: Any = None,
    forms: dict[str, Any] | None = None,
    status: int = 200,
) -> HttpResponse:
    decision = task.decision
    now = timezone.now()
    user = request.user
    if form is None:
        form = VerdictForm(initial={"output": pretty_json(decision.output)}, reason_codes=task.queue.reason_codes)
    if output_form is None:
        output_form = _output_form(task)
    if form.is_bound and form.errors:
        form.focus_first_error()
    held_by_me = _held_by(task, user)
    lease_expired = task.lease_expires_at is not None and task.lease_expires_at <= now
    hidden = task_model_output_hidden(task=task, user=user)
    other = {"comment": CommentForm(), "skip": SkipForm(), "info": RequestInfoForm(), **(forms or {})}
    return render(
        request,
        "review_ui/task_detail.html",
        {
            "task": task,
            "decision": decision,
            "flow": flow_get(decision.flow),
            "flow_template": _flow_template(decision.flow),
            "display_fields": _display_fields(decision.flow, decision.payload),
            "explanation": decision.explanation or {},
            "events": audit_events_for_decision(decision_id=decision.id),
            "reviews": [] if hidden else decision_reviews(decision_id=decision.id),
            "comments": task_comments(task_id=task.id),
            "form": form,
            "output_form": output_form,
            "forms": other,
            "judgement_form": JudgementForm(),
            "output_hidden": hidden,
            "can_review": held_by_me and not lease_expired,
            "lease_expired": task.state in HELD_STATES and lease_expired,
            "renew_url": reverse("review_ui:task_renew", args=[task.id]) if held_by_me and not lease_expired else "",
            "renew_every": RENEW_EVERY_SECONDS,
            "now": now,
        },
        status=status,
    )


@login_required
@require_safe
def task_detail(request: HttpRequest, task_id: UUID) -> HttpResponse:
    """The decision under review, why it is here, its history, and the verdict form for its holder.

    Opening a task its holder has reserved starts work on it (reserved -> in progress, audited once)."""
    task = _visible_task(task_id=task_id, user=request.user)
    now = timezone.now()
    if task.state == TaskState.RESERVED and task.claimed_by_id == request.user.pk and task.lease_expires_at:
        if task.lease_expires_at > now:
            try:
                task_start(task_id=task.id, user=request.user)
            except DomainError:
                pass  # it changed hands meanwhile; the page shows the current state
            task = _visible_task(task_id=task_id, user=request.user)
    return _render_task(request, task)


@login_required
@require_POST
def task_review(request: HttpRequest, task_id: UUID) -> HttpResponse:
    """Submit a verdict; a refusal re-renders the page with the reason next to its field. Success opens
    the next task of the same queue."""
    task = _visible_task(task_id=task_id, user=request.user)
    form = VerdictForm(request.POST, reason_codes=task.queue.reason_codes)
    output_form = _output_form(task, request.POST if request.POST.get("verdict") == Verdict.MODIFY else None)
    if not form.is_valid():
        return _render_task(request, task, form=form, output_form=output_form, status=400)
    verdict = form.cleaned_data["verdict"]
    output = form.cleaned_data["parsed_output"]
    if output_form is not None and verdict == Verdict.MODIFY:
        if not output_form.is_valid():
            return _render_task(request, task, form=form, output_form=output_form, status=400)
        output = output_cleaned(output_form)
    try:
        review_submit(
            task_id=task.id,
            reviewer=request.user,
            verdict=verdict,
            reason=form.cleaned_data["reason"],
            comment=form.cleaned_data["comment"],
            output=output,
            request_id=request.headers.get("X-Request-Id", ""),
        )
    except DomainError as exc:
        if output_form is not None and exc.field and exc.field.startswith("output."):
            name = exc.field.split(".", 1)[1].split(".")[0]
            output_form.add_error(name if name in output_form.fields else None, exc.reason)
        else:
            add_domain_error(form, exc)
        return _render_task(request, task, form=form, output_form=output_form, status=exc.status)
    return _open_next(request, task.queue.slug, done=VERDICT_MESSAGES[verdict])


@login_required
@require_POST
def task_renew(request: HttpRequest, task_id: UUID) -> JsonResponse:
    """Extend the caller's claim while they work (called by the page); JSON for the countdown."""
    task = _visible_task(task_id=task_id, user=request.user)
    try:
        task = task_renew_lease(task_id=task.id, user=request.user)
    except DomainError as exc:
        return JsonResponse({"error": exc.code, "detail": exc.reason}, status=exc.status)
    expires = task.lease_expires_at
    seconds = max(0, int((expires - timezone.now()).total_seconds())) if expires else 0
    return JsonResponse({"lease_expires_at": expires.isoformat() if expires else None, "seconds_left": seconds})


def _task_action(request: HttpRequest, task_id: UUID, form_key: str, form_class: Any, act: Any) -> HttpResponse:
    """Validate a small form, call one service; re-render the task page with the refusal next to the field."""
    task = _visible_task(task_id=task_id, user=request.user)
    form = form_class(request.POST)
    if form.is_valid():
        try:
            return act(task, form.cleaned_data)  # type: ignore[no-any-return]
        except DomainError as exc:
            add_domain_error(form, exc)
            status = exc.status
    else:
        status = 400
    return _render_task(request, task, forms={form_key: form}, status=status)


@login_required
@require_POST
def task_judge(request: HttpRequest, task_id: UUID) -> HttpResponse:
    """Blind review: the first judgement, before the model's output is revealed."""

    def act(task: ReviewTask, data: dict[str, Any]) -> HttpResponse:
        task_judge_blind(task_id=task.id, user=request.user, verdict=data["verdict"])
        messages.info(request, "First judgement recorded. The model's output is now shown.")
        return redirect("review_ui:task_detail", task_id=task.id)

    return _task_action(request, task_id, "judgement", JudgementForm, act)


@login_required
@require_POST
def task_add_comment(request: HttpRequest, task_id: UUID) -> HttpResponse:
    def act(task: ReviewTask, data: dict[str, Any]) -> HttpResponse:
        task_comment(task_id=task.id, user=request.user, text=data["text"])
        messages.success(request, "Comment added.")
        return redirect(reverse("review_ui:task_detail", args=[task.id]) + "#comments-title")

    return _task_action(request, task_id, "comment", CommentForm, act)


@login_required
@require_POST
def task_skip_view(request: HttpRequest, task_id: UUID) -> HttpResponse:
    """Pass on the task with a note, then open the next one."""

    def act(task: ReviewTask, data: dict[str, Any]) -> HttpResponse:
        task_skip(task_id=task.id, user=request.user, note=data["note"])
        return _open_next(request, task.queue.slug, done="Skipped.")

    return _task_action(request, task_id, "skip", SkipForm, act)


@login_required
@require_POST
def task_request_info_view(request: HttpRequest, task_id: UUID) -> HttpResponse:
    def act(task: ReviewTask, data: dict[str, Any]) -> HttpResponse:
        task_request_info(task_id=task.id, user=request.user, question=data["question"])
        messages.success(request, "Information requested. The task comes back to you when it is answered.")
        return redirect("review_ui:inbox")

    return _task_action(request, task_id, "info", RequestInfoForm, act)


@login_required
@require_POST
def task_release_view(request: HttpRequest, task_id: UUID) -> HttpResponse:
    task = _visible_task(task_id=task_id, user=request.user)
    try:
        task_release(task_id=task.id, user=request.user)
    except DomainError as exc:
        messages.error(request, exc.reason)
        return redirect("review_ui:task_detail", task_id=task.id)
    messages.info(request, "Task released back to the queue.")
    return redirect("review_ui:inbox")

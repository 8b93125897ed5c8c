"""Policy pages: versions per flow, one version with its lifecycle buttons, a diff, a backtest.

Supervisors and compliance officers only. The lifecycle (who may submit, four-eyes approval) is the
policy services' business: a refusal is shown as it comes back.
"""

from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST, require_safe

from orchestrator.errors import DomainError
from orchestrator.flows import flow_get
from orchestrator.models import Policy
from orchestrator.selectors.policies import policy_active_for, policy_diff, policy_get, policy_get_version, policy_list
from orchestrator.selectors.ui import policy_flows
from orchestrator.services.backtest import policy_backtest
from orchestrator.services.policies import policy_approve, policy_send_back, policy_submit
from review_ui.forms import BacktestForm, SendBackForm
from review_ui.roles import can_manage_policies, role_required


@role_required(can_manage_policies)
@require_safe
def policy_index(request: HttpRequest) -> HttpResponse:
    """Every flow's versions, newest first, and a form to compare two of them."""
    policies = list(policy_list())
    flows: dict[str, list[Policy]] = {name: [] for name in policy_flows()}
    for policy in policies:
        flows.setdefault(policy.flow, []).append(policy)
    return render(
        request,
        "review_ui/policies/index.html",
        {"flows": [(name, flow_get(name), versions) for name, versions in flows.items()]},
    )


def _policy_or_404(policy_id: int) -> Policy:
    policy = policy_get(policy_id=policy_id)
    if policy is None:
        raise Http404("No such policy version.")
    return policy


def _render_policy(request: HttpRequest, policy: Policy, **extra: Any) -> HttpResponse:
    status = extra.pop("status", 200)
    active = policy_active_for(flow=policy.flow)
    context = {
        "policy": policy,
        "active": active,
        "changes": policy_diff(older=active, newer=policy) if active and active.pk != policy.pk else [],
        "send_back_form": SendBackForm(),
        "backtest_form": BacktestForm(),
        "is_author": policy.created_by_id == request.user.pk,
        **extra,
    }
    return render(request, "review_ui/policies/detail.html", context, status=status)


@role_required(can_manage_policies)
@require_safe
def policy_detail(request: HttpRequest, policy_id: int) -> HttpResponse:
    return _render_policy(request, _policy_or_404(policy_id))


@role_required(can_manage_policies)
@require_POST
def policy_action(request: HttpRequest, policy_id: int, action: str) -> HttpResponse:
    """Submit a draft, approve a submitted version (four-eyes), or send it back with a reason."""
    policy = _policy_or_404(policy_id)
    send_back_form = SendBackForm(request.POST if action == "send-back" else None)
    try:
        if action == "submit":
            policy_submit(policy_id=policy.pk, actor=request.user)
            messages.success(request, f"Version {policy.version} submitted for approval.")
        elif action == "approve":
            policy_approve(policy_id=policy.pk, approver=request.user)
            messages.success(request, f"Version {policy.version} approved and active.")
        elif action == "send-back":
            if not send_back_form.is_valid():
                return _render_policy(request, policy, send_back_form=send_back_form, status=400)
            policy_send_back(policy_id=policy.pk, actor=request.user, reason=send_back_form.cleaned_data["reason"])
            messages.success(request, f"Version {policy.version} sent back to its author.")
        else:
            raise Http404("No such action.")
    except DomainError as exc:
        if action == "send-back" and exc.field == "reason":
            send_back_form.add_error("reason", exc.reason)
            return _render_policy(request, policy, send_back_form=send_back_form, status=exc.status)
        messages.error(request, exc.reason)
        return _render_policy(request, _policy_or_404(policy_id), status=exc.status)
    return redirect("review_ui:policy_detail", policy_id=policy.pk)


@role_required(can_manage_policies)
@require_safe
def policy_compare(request: HttpRequest) -> HttpResponse:
    """What changed between two versions of one flow's policy."""
    flow = request.GET.get("flow", "")
    versions = list(policy_list(flow=flow)) if flow else []
    older = newer = None
    error = ""
    try:
        a, b = int(request.GET.get("a", "")), int(request.GET.get("b", ""))
    except ValueError:
        a = b = 0
    if flow and a and b:
        older, newer = (
            policy_get_version(flow=flow, version=min(a, b)),
            policy_get_version(flow=flow, version=max(a, b)),
        )
        if older is None or newer is None:
            error = "one of those versions does not exist"
    changes = policy_diff(older=older, newer=newer) if older and newer else None
    return render(
        request,
        "review_ui/policies/diff.html",
        {
            "flow": flow,
            "flows": policy_flows(),
            "versions": versions,
            "older": older,
            "newer": newer,
            "changes": changes,
            "error": error,
            "a": a,
            "b": b,
        },
        status=404 if error else 200,
    )


@role_required(can_manage_policies)
@require_safe
def policy_backtest_view(request: HttpRequest, policy_id: int) -> HttpResponse:
    """Route the flow's stored decisions under this version and show what would have happened."""
    policy = _policy_or_404(policy_id)
    form = BacktestForm(request.GET or None)
    report = None
    status = 200
    if form.is_bound and form.is_valid():
        try:
            report = policy_backtest(
                flow=policy.flow,
                spec=policy.spec,
                since=form.cleaned_data["since"],
                until=form.cleaned_data["until"],
                level=form.cleaned_data["level"] or 0.95,
            )
        except DomainError as exc:
            form.add_error(None, exc.reason)
            status = exc.status
    elif form.is_bound:
        status = 400
    return _render_policy(request, policy, backtest_form=form, report=report, status=status)

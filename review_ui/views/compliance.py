"""Compliance pages: audit search, a decision's timeline, export jobs with progress and download,
and the chain's verification status.

Search and timelines are open to compliance officers and supervisors (as the audit API is); exports
and verification need the compliance role. Exports are the audit services' signed bundles, built
by Celery; the page polls the job (htmx) and offers the download once it is done.
"""

from typing import Any
from uuid import UUID

from django.contrib import messages
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_safe

from orchestrator.audit.export import ExportFilters
from orchestrator.audit.selectors import audit_export_get, audit_status
from orchestrator.audit.services import (
    audit_export_authorize_download,
    audit_export_download_token,
    audit_export_record_download,
    audit_export_request,
)
from orchestrator.errors import DomainError
from orchestrator.models import AuditExport, AuditExportStatus
from orchestrator.selectors.decisions import audit_events_for_decision
from orchestrator.selectors.ui import (
    audit_checkpoint_latest,
    audit_exports_of,
    audit_search,
    decision_for_timeline,
    decision_tasks,
)
from review_ui.forms import AuditFilterForm, add_domain_error
from review_ui.roles import can_read_audit, is_compliance, role_required


def _query(form: AuditFilterForm) -> str:
    """The search as a query string for the CSV stream link (only the filters that are set)."""
    from urllib.parse import urlencode

    names = {"kind": "action"}
    pairs = {}
    for name, value in form.cleaned_data.items():
        if value in (None, ""):
            continue
        pairs[names.get(name, name)] = value.isoformat() if hasattr(value, "isoformat") else str(value)
    return urlencode(pairs)


@role_required(can_read_audit)
@require_safe
def audit_search_view(request: HttpRequest) -> HttpResponse:
    """The newest events matching the filters (every filter given must hold)."""
    form = AuditFilterForm(request.GET or None)
    events: list[Any] = []
    status = 200
    csv_query = ""
    if not form.is_bound:
        events = audit_search()
    elif form.is_valid():
        data = form.cleaned_data
        events = audit_search(
            since=data["since"],
            until=data["until"],
            decision_id=data["decision"],
            flow=data["flow"],
            actor=data["actor"],
            queue=data["queue"],
            kind=data["kind"],
            outcome=data["outcome"],
        )
        csv_query = _query(form)
    else:
        status = 400
    return render(
        request,
        "review_ui/compliance/audit.html",
        {
            "form": form,
            "events": events,
            "csv_url": reverse("api:audit-events-export") + (f"?{csv_query}" if csv_query else ""),
            "can_export": is_compliance(request.user),
        },
        status=status,
    )


@role_required(can_read_audit)
@require_safe
def decision_timeline(request: HttpRequest, decision_id: UUID) -> HttpResponse:
    """One decision from intake to outcome: its facts, tasks and every audit event with its hash."""
    decision = decision_for_timeline(decision_id=decision_id)
    if decision is None:
        raise Http404("No such decision.")
    return render(
        request,
        "review_ui/compliance/timeline.html",
        {
            "decision": decision,
            "tasks": decision_tasks(decision_id=decision.id),
            "events": audit_events_for_decision(decision_id=decision.id),
        },
    )


def _filters(data: dict[str, Any]) -> ExportFilters:
    """The form's filters (its `kind` is the API's `action`)."""
    return ExportFilters.from_params({**data, "action": data.get("kind")})


@role_required(is_compliance)
@require_http_methods(["GET", "HEAD", "POST"])
def exports(request: HttpRequest) -> HttpResponse:
    """Ask for a signed export bundle, and follow the caller's recent export jobs."""
    form = AuditFilterForm(request.POST if request.method == "POST" else None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                export = audit_export_request(requested_by=request.user, filters=_filters(form.cleaned_data))
            except DomainError as exc:
                add_domain_error(form, exc)
                status = exc.status
            else:
                messages.success(request, "Export requested. It is built in the background; this page follows it.")
                return redirect(reverse("review_ui:exports") + f"#export-{export.id}")
        else:
            status = 400
    return render(
        request,
        "review_ui/compliance/exports.html",
        {"form": form, "exports": audit_exports_of(user=request.user), "Status": AuditExportStatus},
        status=status,
    )


def _own_export(request: HttpRequest, export_id: UUID) -> AuditExport:
    export = audit_export_get(export_id=export_id)
    if export is None or export.requested_by_id != request.user.pk:
        raise Http404("No such export of yours.")
    return export


@role_required(is_compliance)
@require_safe
def export_status(request: HttpRequest, export_id: UUID) -> HttpResponse:
    """One export job's row (htmx polls it while the job runs)."""
    export = _own_export(request, export_id)
    return render(request, "review_ui/compliance/_export_row.html", {"export": export, "Status": AuditExportStatus})


@role_required(is_compliance)
@require_safe
def export_download(request: HttpRequest, export_id: UUID) -> HttpResponse:
    """Download a finished bundle (the same checks and audit event as the signed API link)."""
    export = _own_export(request, export_id)
    try:
        token = audit_export_download_token(export=export, user=request.user)
        export, user = audit_export_authorize_download(export_id=export.id, token=token)
    except DomainError as exc:
        messages.error(request, exc.reason)
        return redirect("review_ui:exports")
    audit_export_record_download(export=export, user=user)
    return FileResponse(
        open(export.file_path, "rb"),  # noqa: SIM115 - FileResponse closes it
        as_attachment=True,
        filename=f"audit-export-{export.id}.zip",
        content_type="application/zip",
    )


@role_required(is_compliance)
@require_safe
def verification(request: HttpRequest) -> HttpResponse:
    """The latest signed checkpoint, and — on request — a full verification of every chain."""
    result = audit_status() if request.GET.get("run") else None
    latest = audit_checkpoint_latest() if result is None else None
    return render(
        request,
        "review_ui/compliance/verify.html",
        {"result": result, "latest": latest, "now": timezone.now()},
    )

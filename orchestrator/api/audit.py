from typing import Any
from urllib.parse import urlencode
from uuid import UUID

from django.http import FileResponse, HttpResponse, StreamingHttpResponse
from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from orchestrator.api.permissions import CanReadAudit, IsCompliance
from orchestrator.audit.export import ExportFilters
from orchestrator.audit.selectors import audit_export_get, audit_status, legal_holds_list, stream_export
from orchestrator.audit.services import (
    audit_export_authorize_download,
    audit_export_download_token,
    audit_export_record_download,
    audit_export_record_stream,
    audit_export_request,
    legal_hold_create,
    legal_hold_release,
)
from orchestrator.audit.signing import public_key_pem
from orchestrator.errors import NotFound, ValidationFailed
from orchestrator.models import AuditExport, AuditExportStatus
from orchestrator.selectors.decisions import audit_events_for_decision


class AuditEventListApi(APIView):
    """Audit events of one decision, oldest first."""

    permission_classes = [CanReadAudit]

    class FilterSerializer(serializers.Serializer):
        decision = serializers.UUIDField()

    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        partition = serializers.IntegerField()
        seq = serializers.IntegerField()
        occurred_at = serializers.DateTimeField()
        kind = serializers.CharField()
        outcome = serializers.CharField()
        actor = serializers.CharField()
        actor_roles = serializers.ListField(child=serializers.CharField())
        decision_id = serializers.UUIDField(allow_null=True)
        flow = serializers.CharField()
        queue = serializers.CharField()
        subject_type = serializers.CharField()
        subject_id = serializers.CharField()
        data = serializers.JSONField()
        prev_hash = serializers.CharField()
        hash = serializers.CharField()

    @extend_schema(
        parameters=[OpenApiParameter("decision", str, required=True, description="decision id")],
        responses={200: OutputSerializer(many=True)},
    )
    def get(self, request: Request) -> Response:
        filters = self.FilterSerializer(data=request.query_params)
        if not filters.is_valid():
            field, errors = next(iter(filters.errors.items()))
            raise ValidationFailed(str(errors[0]), field=field)
        events: Any = audit_events_for_decision(decision_id=filters.validated_data["decision"])
        return Response(self.OutputSerializer(events, many=True).data)


# --- verification, exports ------------------------------------------------------------------------


class AuditFilterSerializer(serializers.Serializer):
    """Export filters; all that are given must hold. `until` is exclusive; `action` is the event kind."""

    since = serializers.DateTimeField(required=False)
    until = serializers.DateTimeField(required=False)
    flow = serializers.CharField(required=False, max_length=100)
    decision = serializers.UUIDField(required=False)
    actor = serializers.CharField(required=False, max_length=150)
    queue = serializers.CharField(required=False, max_length=100)
    action = serializers.CharField(required=False, max_length=60)
    outcome = serializers.CharField(required=False, max_length=20)
    policy_version = serializers.CharField(required=False, max_length=40)
    model_version = serializers.CharField(required=False, max_length=100)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("since") and attrs.get("until") and attrs["since"] >= attrs["until"]:
            raise serializers.ValidationError({"since": "must be before until"})
        return attrs


def _valid(serializer: serializers.Serializer) -> dict[str, Any]:
    if not serializer.is_valid():
        raise serializers.ValidationError(serializer.errors)
    return dict(serializer.validated_data)


class AuditVerifyApi(APIView):
    """Verify the whole trail now: chains, seq gaps, checkpoints and their signatures."""

    permission_classes = [IsCompliance]

    class OutputSerializer(serializers.Serializer):
        intact = serializers.BooleanField()
        events = serializers.IntegerField()
        checkpoints = serializers.IntegerField()
        latest_checkpoint = serializers.CharField(allow_null=True)
        key_id = serializers.CharField()
        breaks = serializers.ListField(child=serializers.DictField())

    @extend_schema(responses={200: OutputSerializer})
    def get(self, request: Request) -> Response:
        return Response(self.OutputSerializer(audit_status()).data)


class AuditPublicKeyApi(APIView):
    """The Ed25519 public key that verifies checkpoints and bundles (PEM)."""

    permission_classes = [IsCompliance]

    @extend_schema(responses={(200, "application/x-pem-file"): str})
    def get(self, request: Request) -> HttpResponse:
        return HttpResponse(public_key_pem(), content_type="application/x-pem-file")


class AuditEventExportStreamApi(APIView):
    """Stream the matching events as CSV or JSONL, with constant memory (for ranges of any size)."""

    permission_classes = [IsCompliance]

    def perform_content_negotiation(self, request: Request, force: bool = False) -> tuple[Any, str]:
        # `format` names the file format here, not DRF's renderer override; errors still render as JSON.
        renderer = JSONRenderer()
        return renderer, renderer.media_type

    @extend_schema(
        parameters=[AuditFilterSerializer, OpenApiParameter("format", str, enum=["csv", "jsonl"])],
        responses={(200, "text/csv"): str},
    )
    def get(self, request: Request) -> StreamingHttpResponse:
        params = request.query_params.copy()
        fmt = params.pop("format", ["csv"])[-1]
        if fmt not in ("csv", "jsonl"):
            raise ValidationFailed("format must be csv or jsonl", field="format")
        filters = ExportFilters.from_params(_valid(AuditFilterSerializer(data=params)))
        audit_export_record_stream(user=request.user, filters=filters, fmt=fmt)
        response = StreamingHttpResponse(
            stream_export(filters=filters, fmt=fmt),
            content_type="text/csv; charset=utf-8" if fmt == "csv" else "application/jsonl",
        )
        response["Content-Disposition"] = f'attachment; filename="audit-events.{fmt}"'
        return response


class AuditExportCreateApi(APIView):
    """Ask for a signed, offline-verifiable bundle; built asynchronously. 202 with the job."""

    permission_classes = [IsCompliance]

    @extend_schema(request=AuditFilterSerializer, responses={202: None})
    def post(self, request: Request) -> Response:
        filters = ExportFilters.from_params(_valid(AuditFilterSerializer(data=request.data)))
        export = audit_export_request(requested_by=request.user, filters=filters)
        return Response(_export_out(request, export), status=202)


class AuditExportDetailApi(APIView):
    """An export job: status and progress; when done, a short-lived download link."""

    permission_classes = [IsCompliance]

    def get(self, request: Request, export_id: UUID) -> Response:
        export = audit_export_get(export_id=export_id)
        if export is None:
            raise NotFound(f"export {export_id} does not exist", field="export_id")
        return Response(_export_out(request, export))


class AuditExportDownloadApi(APIView):
    """Download a finished bundle through its signed link (the link names the user; it expires quickly)."""

    permission_classes = [AllowAny]
    authentication_classes: list[type] = []

    @extend_schema(
        parameters=[OpenApiParameter("token", str, required=True)], responses={(200, "application/zip"): bytes}
    )
    def get(self, request: Request, export_id: UUID) -> FileResponse:
        token = request.query_params.get("token", "")
        if not token:
            raise ValidationFailed("token is required", field="token")
        export, user = audit_export_authorize_download(export_id=export_id, token=token)
        audit_export_record_download(export=export, user=user)
        return FileResponse(
            open(export.file_path, "rb"),  # noqa: SIM115 - FileResponse closes it
            as_attachment=True,
            filename=f"audit-export-{export.id}.zip",
            content_type="application/zip",
        )


def _export_out(request: Request, export: AuditExport) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": str(export.id),
        "status": export.status,
        "filters": export.filters,
        "rows_done": export.rows_done,
        "rows_total": export.rows_total,
        "sha256": export.sha256 or None,
        "created_at": export.created_at.isoformat(),
        "expires_at": export.expires_at.isoformat() if export.expires_at else None,
        "error": export.error or None,
        "download_url": None,
    }
    if export.status == AuditExportStatus.DONE and export.file_path:
        token = audit_export_download_token(export=export, user=request.user)
        url = reverse("api:audit-export-download", kwargs={"export_id": export.id})
        out["download_url"] = request.build_absolute_uri(f"{url}?{urlencode({'token': token})}")
    return out


class LegalHoldSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    reason = serializers.CharField()
    flow = serializers.CharField()
    decision_id = serializers.UUIDField(allow_null=True)
    created_by = serializers.CharField()
    created_at = serializers.DateTimeField()
    released_by = serializers.CharField()
    released_at = serializers.DateTimeField(allow_null=True)


class LegalHoldListCreateApi(APIView):
    """Legal holds: while one is active, retention may not purge the events it covers."""

    permission_classes = [IsCompliance]

    class InputSerializer(serializers.Serializer):
        reason = serializers.CharField(max_length=500)
        flow = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
        decision_id = serializers.UUIDField(required=False, allow_null=True, default=None)

    @extend_schema(responses={200: LegalHoldSerializer(many=True)})
    def get(self, request: Request) -> Response:
        return Response(LegalHoldSerializer(legal_holds_list(), many=True).data)

    @extend_schema(request=InputSerializer, responses={201: LegalHoldSerializer})
    def post(self, request: Request) -> Response:
        form = self.InputSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        hold = legal_hold_create(created_by=request.user, **form.validated_data)
        return Response(LegalHoldSerializer(hold).data, status=201)


class LegalHoldReleaseApi(APIView):
    """Release an active legal hold."""

    permission_classes = [IsCompliance]

    @extend_schema(request=None, responses={200: LegalHoldSerializer})
    def post(self, request: Request, hold_id: int) -> Response:
        hold = legal_hold_release(hold_id=hold_id, released_by=request.user)
        return Response(LegalHoldSerializer(hold).data)

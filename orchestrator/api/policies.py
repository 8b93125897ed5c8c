"""Policies API: drafts (CRUD), submit, approve (activates), send back, retire, diff, backtest, calibration.

Supervisors and compliance officers (and superusers) use every endpoint; the four-eyes rule and the
lifecycle are enforced by the services, so these views only parse input and shape output.
"""

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from orchestrator.errors import NotFound, ValidationFailed
from orchestrator.models import Policy, PolicyStatus
from orchestrator.selectors.policies import policy_diff, policy_get, policy_get_version, policy_list
from orchestrator.services.backtest import policy_backtest
from orchestrator.services.calibration import policy_calibrate
from orchestrator.services.policies import (
    policy_approve,
    policy_can_author,
    policy_draft_create,
    policy_draft_delete,
    policy_draft_update,
    policy_retire,
    policy_send_back,
    policy_submit,
)


class CanManagePolicies(BasePermission):
    """Supervisors and compliance officers read, author and approve policies."""

    message = "policies are managed by supervisors and compliance officers"

    def has_permission(self, request: Any, view: Any) -> bool:
        return policy_can_author(user=request.user)


def _when(value: Any) -> str | None:
    return serializers.DateTimeField().to_representation(value) if value else None


class PolicyOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    flow = serializers.CharField()
    version = serializers.IntegerField()
    status = serializers.CharField()
    spec = serializers.JSONField()
    spec_sha256 = serializers.CharField()
    note = serializers.CharField()
    source = serializers.CharField()
    based_on_version = serializers.IntegerField(allow_null=True)
    created_by = serializers.CharField(allow_null=True)
    approved_by = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()
    submitted_at = serializers.DateTimeField(allow_null=True)
    activated_at = serializers.DateTimeField(allow_null=True)
    retired_at = serializers.DateTimeField(allow_null=True)

    def to_representation(self, policy: Any) -> dict[str, Any]:
        return {
            "id": policy.pk,
            "flow": policy.flow,
            "version": policy.version,
            "status": policy.status,
            "spec": policy.spec,
            "spec_sha256": policy.spec_sha256,
            "note": policy.note,
            "source": policy.source,
            "based_on_version": policy.based_on_version,
            "created_by": policy.created_by.username if policy.created_by_id else None,
            "approved_by": policy.approved_by.username if policy.approved_by_id else None,
            "created_at": _when(policy.created_at),
            "submitted_at": _when(policy.submitted_at),
            "activated_at": _when(policy.activated_at),
            "retired_at": _when(policy.retired_at),
        }


def _policy(policy_id: int) -> Policy:
    policy = policy_get(policy_id=policy_id)
    if policy is None:
        raise NotFound(f"policy {policy_id} does not exist", field="policy_id")
    return policy


class PolicyListCreateApi(APIView):
    """GET: the policy versions (filter by flow and status). POST: a new draft version of a flow's policy."""

    permission_classes = [CanManagePolicies]

    class FilterSerializer(serializers.Serializer):
        flow = serializers.CharField(required=False, max_length=100)
        status = serializers.ChoiceField(choices=PolicyStatus.values, required=False)

    class InputSerializer(serializers.Serializer):
        flow = serializers.CharField(max_length=100)
        spec = serializers.JSONField()
        note = serializers.CharField(required=False, allow_blank=True, default="", max_length=5000)

    @extend_schema(parameters=[FilterSerializer], responses={200: PolicyOutputSerializer(many=True)})
    def get(self, request: Request) -> Response:
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        policies = policy_list(flow=filters.validated_data.get("flow"), status=filters.validated_data.get("status"))
        return Response(PolicyOutputSerializer(policies, many=True).data)

    @extend_schema(request=InputSerializer, responses={201: PolicyOutputSerializer})
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        policy = policy_draft_create(flow=v["flow"], spec=v["spec"], author=request.user, note=v["note"])
        return Response(PolicyOutputSerializer(policy).data, status=status.HTTP_201_CREATED)


class PolicyDetailApi(APIView):
    """GET one version; PATCH a draft's spec or note (its author only); DELETE a draft (its author only)."""

    permission_classes = [CanManagePolicies]

    class InputSerializer(serializers.Serializer):
        spec = serializers.JSONField(required=False)
        note = serializers.CharField(required=False, allow_blank=True, max_length=5000)

    @extend_schema(responses={200: PolicyOutputSerializer})
    def get(self, request: Request, policy_id: int) -> Response:
        return Response(PolicyOutputSerializer(_policy(policy_id)).data)

    @extend_schema(request=InputSerializer, responses={200: PolicyOutputSerializer})
    def patch(self, request: Request, policy_id: int) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        policy = policy_draft_update(
            policy_id=policy_id,
            actor=request.user,
            spec=data.validated_data.get("spec"),
            note=data.validated_data.get("note"),
        )
        return Response(PolicyOutputSerializer(policy).data)

    @extend_schema(responses={204: OpenApiResponse(description="draft deleted")})
    def delete(self, request: Request, policy_id: int) -> Response:
        policy_draft_delete(policy_id=policy_id, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class PolicySubmitApi(APIView):
    """The author submits a draft for approval by a second person."""

    permission_classes = [CanManagePolicies]

    @extend_schema(request=None, responses={200: PolicyOutputSerializer})
    def post(self, request: Request, policy_id: int) -> Response:
        return Response(PolicyOutputSerializer(policy_submit(policy_id=policy_id, actor=request.user)).data)


class PolicyApproveApi(APIView):
    """A second person approves a submitted version: it becomes active, the previous active version retires."""

    permission_classes = [CanManagePolicies]

    @extend_schema(request=None, responses={200: PolicyOutputSerializer})
    def post(self, request: Request, policy_id: int) -> Response:
        return Response(PolicyOutputSerializer(policy_approve(policy_id=policy_id, approver=request.user)).data)


class PolicySendBackApi(APIView):
    """Return a submitted version to its author as a draft, with the reason."""

    permission_classes = [CanManagePolicies]

    class InputSerializer(serializers.Serializer):
        reason = serializers.CharField(max_length=5000)

    @extend_schema(request=InputSerializer, responses={200: PolicyOutputSerializer})
    def post(self, request: Request, policy_id: int) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        policy = policy_send_back(policy_id=policy_id, actor=request.user, reason=data.validated_data["reason"])
        return Response(PolicyOutputSerializer(policy).data)


class PolicyRetireApi(APIView):
    """Withdraw a draft or submitted version (the active one retires when its successor is approved)."""

    permission_classes = [CanManagePolicies]

    @extend_schema(request=None, responses={200: PolicyOutputSerializer})
    def post(self, request: Request, policy_id: int) -> Response:
        return Response(PolicyOutputSerializer(policy_retire(policy_id=policy_id, actor=request.user)).data)


class PolicyDiffApi(APIView):
    """What changed between two versions of a flow's policy, path by path."""

    permission_classes = [CanManagePolicies]

    class FilterSerializer(serializers.Serializer):
        flow = serializers.CharField(max_length=100)
        base = serializers.IntegerField(min_value=1, help_text="the older version")
        other = serializers.IntegerField(min_value=1, help_text="the newer version")

    class OutputSerializer(serializers.Serializer):
        flow = serializers.CharField()
        base = serializers.IntegerField()
        other = serializers.IntegerField()
        changes = serializers.ListField(child=serializers.DictField())

    @extend_schema(parameters=[FilterSerializer], responses={200: OutputSerializer})
    def get(self, request: Request) -> Response:
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        v = filters.validated_data
        versions = {}
        for key in ("base", "other"):
            policy = policy_get_version(flow=v["flow"], version=v[key])
            if policy is None:
                raise NotFound(f"flow {v['flow']!r} has no policy version {v[key]}", field=key)
            versions[key] = policy
        changes = policy_diff(older=versions["base"], newer=versions["other"])
        return Response({"flow": v["flow"], "base": v["base"], "other": v["other"], "changes": changes})


class PolicyBacktestApi(APIView):
    """Run a policy (a stored version by id, or an inline spec) over the flow's past decisions."""

    permission_classes = [CanManagePolicies]

    class InputSerializer(serializers.Serializer):
        flow = serializers.CharField(max_length=100)
        policy_id = serializers.IntegerField(required=False)
        spec = serializers.JSONField(required=False)
        since = serializers.DateTimeField(required=False)
        until = serializers.DateTimeField(required=False)
        level = serializers.FloatField(required=False, default=0.95, min_value=0.5, max_value=0.999)

        def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
            if ("policy_id" in attrs) == ("spec" in attrs):
                raise serializers.ValidationError({"spec": "give either policy_id or spec"})
            if attrs.get("since") and attrs.get("until") and attrs["since"] >= attrs["until"]:
                raise serializers.ValidationError({"until": "must be after since"})
            return attrs

    @extend_schema(request=InputSerializer, responses={200: serializers.DictField()})
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        spec = v.get("spec")
        version = None
        if "policy_id" in v:
            policy = _policy(v["policy_id"])
            if policy.flow != v["flow"]:
                raise ValidationFailed(f"policy {policy.pk} belongs to flow {policy.flow!r}", field="policy_id")
            spec, version = policy.spec, policy.version
        report = policy_backtest(
            flow=v["flow"], spec=spec, since=v.get("since"), until=v.get("until"), level=v["level"]
        )
        report["policy_version"] = version
        return Response(report)


class PolicyCalibrationApi(APIView):
    """Reliability of the flow's confidence against reviewer outcomes, and a recommended threshold.

    With `save_draft` (default true) a recommendation becomes a new draft version authored by the
    caller; it is never activated here: it is submitted and approved by a second person like any draft.
    """

    permission_classes = [CanManagePolicies]

    class InputSerializer(serializers.Serializer):
        flow = serializers.CharField(max_length=100)
        label = serializers.CharField(required=False, max_length=200)
        since = serializers.DateTimeField(required=False)
        until = serializers.DateTimeField(required=False)
        target_error = serializers.FloatField(required=False, default=0.02, min_value=0.0001, max_value=0.5)
        level = serializers.FloatField(required=False, default=0.95, min_value=0.5, max_value=0.999)
        min_support = serializers.IntegerField(required=False, default=30, min_value=1)
        bins = serializers.IntegerField(required=False, default=10, min_value=2, max_value=100)
        save_draft = serializers.BooleanField(required=False, default=True)

    @extend_schema(request=InputSerializer, responses={200: serializers.DictField()})
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        report, draft = policy_calibrate(
            flow=v["flow"],
            author=request.user,
            label=v.get("label"),
            since=v.get("since"),
            until=v.get("until"),
            target_error=v["target_error"],
            level=v["level"],
            min_support=v["min_support"],
            bins=v["bins"],
            save_draft=v["save_draft"],
        )
        report["draft"] = PolicyOutputSerializer(draft).data if draft else None
        return Response(report)

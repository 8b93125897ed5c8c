"""Policy reads: versions of a flow, the active one, a compiled spec, the diff of two versions."""

from typing import Any

from django.db.models import QuerySet

from orchestrator.flows import flow_get
from orchestrator.gates import PolicySpec, parse_spec
from orchestrator.gates.diff import spec_diff
from orchestrator.models import Policy, PolicyStatus


def policy_list(*, flow: str | None = None, status: str | None = None) -> QuerySet[Policy]:
    policies = Policy.objects.select_related("created_by", "approved_by").order_by("flow", "-version")
    if flow:
        policies = policies.filter(flow=flow)
    if status:
        policies = policies.filter(status=status)
    return policies


def policy_get(*, policy_id: Any) -> Policy | None:
    return Policy.objects.select_related("created_by", "approved_by").filter(pk=policy_id).first()


def policy_get_version(*, flow: str, version: int) -> Policy | None:
    return Policy.objects.filter(flow=flow, version=version).first()


def policy_active_for(*, flow: str) -> Policy | None:
    return Policy.objects.filter(flow=flow, status=PolicyStatus.ACTIVE).first()


def flow_custom_gates(*, flow: str) -> dict[str, Any]:
    definition = flow_get(flow)
    return dict(definition.custom_gates) if definition is not None else {}


def policy_compiled(*, policy: Policy) -> PolicySpec:
    """The policy's compiled spec, from the per-process cache keyed by its content hash (compiled once)."""
    return parse_spec(
        policy.spec,
        custom_gates=flow_custom_gates(flow=policy.flow),
        cache_key=policy.spec_sha256 or None,
    )


def policy_diff(*, older: Policy, newer: Policy) -> list[dict[str, Any]]:
    """What changed between two versions' specs: [{"path", "change": added|removed|changed, "from", "to"}]."""
    return spec_diff(older.spec, newer.spec)

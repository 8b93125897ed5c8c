import hashlib

from django.db import transaction
from django.utils import timezone

from orchestrator.audit.canonical import canonical_bytes
from orchestrator.audit.chain import audit_append
from orchestrator.errors import ValidationFailed
from orchestrator.flows import flow_get
from orchestrator.gates import PolicySpecError, parse_spec
from orchestrator.models import Policy, PolicyStatus, Queue


@transaction.atomic
def policy_ensure_default(*, flow: str) -> Policy:
    """The flow's active policy; on first sight of a flow, its default policy becomes version 1."""
    active = Policy.objects.filter(flow=flow, status=PolicyStatus.ACTIVE).first()
    if active:
        return active
    definition = flow_get(flow)
    if definition is None:
        raise ValidationFailed(f"unknown flow {flow!r}", field="flow")
    try:
        parse_spec(definition.default_policy)
    except PolicySpecError as exc:
        raise ValidationFailed(f"default policy of flow {flow!r}: {exc.reason}", field=exc.field) from exc
    queue = definition.default_policy["queue"]
    if not Queue.objects.filter(slug=queue).exists():
        raise ValidationFailed(f"default policy of flow {flow!r} names unknown queue {queue!r}", field="queue")
    version = (Policy.objects.filter(flow=flow).order_by("-version").values_list("version", flat=True).first() or 0) + 1
    policy = Policy.objects.create(
        flow=flow,
        version=version,
        status=PolicyStatus.ACTIVE,
        spec=definition.default_policy,
        spec_sha256=hashlib.sha256(canonical_bytes(definition.default_policy)).hexdigest(),
        activated_at=timezone.now(),
    )
    audit_append(
        kind="policy.activated",
        actor="system",
        flow=flow,
        subject_type="policy",
        subject_id=str(policy.pk),
        data={"version": version, "spec_sha256": policy.spec_sha256, "source": "flow default"},
    )
    return policy

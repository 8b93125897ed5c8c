"""Policy writes: the lifecycle draft -> submitted -> active -> retired, with four-eyes activation.

Who: supervisors and compliance officers author and approve (superusers too). The approver of a
version must be someone other than its author (four-eyes); a refused approval is audited. Only
drafts are edited. Approval activates the version and retires the previous active one in the same
transaction, so a flow always has exactly one active version once it has one.
"""

import hashlib
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from orchestrator.audit.canonical import canonical_bytes
from orchestrator.audit.chain import audit_append
from orchestrator.errors import ConflictError, NotFound, PermissionDenied, ValidationFailed
from orchestrator.flows import flow_get
from orchestrator.gates import PolicySpec, PolicySpecError, parse_spec
from orchestrator.models import Policy, PolicyStatus, Queue
from orchestrator.models.policy import PolicySource
from orchestrator.selectors.users import (
    OVERSIGHT_ROLES,
    user_has_any_role,
)


class PolicySpecInvalid(ValidationFailed):
    """The spec does not validate; `field` is spec.<path>, and a rule error adds rule, line and column."""

    code = "invalid_policy"


class PolicyStateError(ConflictError):
    code = "policy_state"


class FourEyesError(PermissionDenied):
    code = "four_eyes"


def spec_sha256(spec: Any) -> str:
    return hashlib.sha256(canonical_bytes(spec)).hexdigest()


def policy_can_author(*, user: Any) -> bool:
    return user_has_any_role(user=user, roles=OVERSIGHT_ROLES)


def _require_author(user: Any, action: str) -> None:
    if not policy_can_author(user=user):
        raise PermissionDenied(f"only supervisors and compliance officers may {action} policies", field="user")


def policy_spec_validate(*, flow: str, spec: Any) -> PolicySpec:
    """Compile `spec` for `flow` against the queues that exist and the flow's custom gates, or refuse (400)."""
    definition = flow_get(flow)
    if definition is None:
        raise ValidationFailed(f"unknown flow {flow!r}", field="flow")
    try:
        return parse_spec(
            spec, queues=set(Queue.objects.values_list("slug", flat=True)), custom_gates=definition.custom_gates
        )
    except PolicySpecError as exc:
        context: dict[str, Any] = {}
        if exc.rule is not None:
            context["rule"] = exc.rule
        if exc.line is not None:
            context.update(line=exc.line, column=exc.column)
        where = f" (line {exc.line}, column {exc.column})" if exc.line is not None else ""
        raise PolicySpecInvalid(f"{exc.reason}{where}", field=f"spec.{exc.field}", **context) from exc


def _locked(policy_id: Any) -> Policy:
    policy = Policy.objects.select_for_update().filter(pk=policy_id).first()
    if policy is None:
        raise NotFound(f"policy {policy_id} does not exist", field="policy_id")
    return policy


def _audit(policy: Policy, *, kind: str, actor: Any, data: dict[str, Any] | None = None, outcome: str = "ok") -> None:
    audit_append(
        kind=kind,
        actor=actor,
        flow=policy.flow,
        subject_type="policy",
        subject_id=str(policy.pk),
        outcome=outcome,
        data={"version": policy.version, "status": policy.status, "spec_sha256": policy.spec_sha256, **(data or {})},
    )


def _next_version(flow: str) -> int:
    latest = Policy.objects.filter(flow=flow).order_by("-version").values_list("version", flat=True).first()
    return (latest or 0) + 1


@transaction.atomic
def policy_ensure_default(*, flow: str) -> Policy:
    """The flow's active policy; on first sight of a flow, its default policy becomes the active version."""
    active = Policy.objects.filter(flow=flow, status=PolicyStatus.ACTIVE).first()
    if active:
        return active
    definition = flow_get(flow)
    if definition is None:
        raise ValidationFailed(f"unknown flow {flow!r}", field="flow")
    try:
        policy_spec_validate(flow=flow, spec=definition.default_policy)
    except PolicySpecInvalid as exc:
        raise ValidationFailed(f"default policy of flow {flow!r}: {exc.reason}", field=exc.field) from exc
    policy = Policy.objects.create(
        flow=flow,
        version=_next_version(flow),
        status=PolicyStatus.ACTIVE,
        spec=definition.default_policy,
        spec_sha256=spec_sha256(definition.default_policy),
        activated_at=timezone.now(),
        source=PolicySource.FLOW_DEFAULT,
    )
    _audit(policy, kind="policy.activated", actor="system", data={"source": "flow default"})
    return policy


@transaction.atomic
def policy_draft_create(
    *,
    flow: str,
    spec: Any,
    author: Any,
    note: str = "",
    source: str = PolicySource.MANUAL,
    based_on_version: int | None = None,
    extra_audit: dict[str, Any] | None = None,
) -> Policy:
    """A new draft version of the flow's policy (the next version number). Validated before it is stored."""
    _require_author(author, "write")
    policy_spec_validate(flow=flow, spec=spec)
    try:
        with transaction.atomic():
            policy = Policy.objects.create(
                flow=flow,
                version=_next_version(flow),
                status=PolicyStatus.DRAFT,
                spec=spec,
                spec_sha256=spec_sha256(spec),
                created_by=author,
                note=note,
                source=source,
                based_on_version=based_on_version,
            )
    except IntegrityError as exc:  # a concurrent draft took the version number
        raise ConflictError("another version of this flow's policy was created at the same time; retry") from exc
    _audit(policy, kind="policy.draft_created", actor=author, data={"source": source, **(extra_audit or {})})
    return policy


def _require_own_draft(policy: Policy, actor: Any, action: str) -> None:
    if policy.status != PolicyStatus.DRAFT:
        raise PolicyStateError(
            f"only a draft can be {action}; version {policy.version} is {policy.status}",
            field="status",
            status=policy.status,
        )
    if policy.created_by_id is not None and policy.created_by_id != getattr(actor, "pk", None):
        raise PermissionDenied(f"only the author of a draft may have it {action}", field="user")


@transaction.atomic
def policy_draft_update(*, policy_id: Any, actor: Any, spec: Any = None, note: str | None = None) -> Policy:
    """Change a draft's spec and/or note. Only drafts are editable, and only by their author."""
    _require_author(actor, "write")
    policy = _locked(policy_id)
    _require_own_draft(policy, actor, "edited")
    changed = []
    if spec is not None:
        policy_spec_validate(flow=policy.flow, spec=spec)
        previous = policy.spec_sha256
        policy.spec, policy.spec_sha256 = spec, spec_sha256(spec)
        changed.append({"field": "spec", "from_sha256": previous, "to_sha256": policy.spec_sha256})
    if note is not None:
        policy.note = note
        changed.append({"field": "note"})
    policy.save(update_fields=["spec", "spec_sha256", "note", "updated_at"])
    _audit(policy, kind="policy.draft_updated", actor=actor, data={"changed": changed})
    return policy


@transaction.atomic
def policy_draft_delete(*, policy_id: Any, actor: Any) -> None:
    """Discard a draft (nothing ever routed with it). The audit trail keeps the record that it existed."""
    _require_author(actor, "write")
    policy = _locked(policy_id)
    _require_own_draft(policy, actor, "deleted")
    _audit(policy, kind="policy.draft_deleted", actor=actor)
    policy.delete()


@transaction.atomic
def policy_submit(*, policy_id: Any, actor: Any) -> Policy:
    """The author asks for approval: draft -> submitted (re-validated: queues may have changed)."""
    _require_author(actor, "submit")
    policy = _locked(policy_id)
    _require_own_draft(policy, actor, "submitted")
    policy_spec_validate(flow=policy.flow, spec=policy.spec)
    policy.status = PolicyStatus.SUBMITTED
    policy.submitted_at = timezone.now()
    policy.save(update_fields=["status", "submitted_at", "updated_at"])
    _audit(policy, kind="policy.submitted", actor=actor)
    return policy


@transaction.atomic
def policy_send_back(*, policy_id: Any, actor: Any, reason: str) -> Policy:
    """A reviewer of a submitted version returns it to its author as a draft, with the reason."""
    _require_author(actor, "review")
    policy = _locked(policy_id)
    if policy.status != PolicyStatus.SUBMITTED:
        raise PolicyStateError(
            f"only a submitted version can be sent back; version {policy.version} is {policy.status}",
            field="status",
            status=policy.status,
        )
    if not reason.strip():
        raise ValidationFailed("say why the version goes back to its author", field="reason")
    policy.status = PolicyStatus.DRAFT
    policy.submitted_at = None
    policy.save(update_fields=["status", "submitted_at", "updated_at"])
    _audit(policy, kind="policy.sent_back", actor=actor, data={"reason": reason})
    return policy


@transaction.atomic
def _approve(policy_id: Any, approver: Any) -> Policy:
    _require_author(approver, "approve")
    policy = _locked(policy_id)
    if policy.status != PolicyStatus.SUBMITTED:
        raise PolicyStateError(
            f"only a submitted version can be approved; version {policy.version} is {policy.status}",
            field="status",
            status=policy.status,
        )
    if policy.created_by_id is not None and policy.created_by_id == approver.pk:
        raise FourEyesError(
            "four-eyes rule: the author of a policy version cannot approve it; a second person must",
            field="approver",
        )
    policy_spec_validate(flow=policy.flow, spec=policy.spec)
    now = timezone.now()
    previous = Policy.objects.select_for_update().filter(flow=policy.flow, status=PolicyStatus.ACTIVE).first()
    if previous is not None:
        # Retire first: the one-active-per-flow constraint is checked per statement.
        previous.status = PolicyStatus.RETIRED
        previous.retired_at = now
        previous.save(update_fields=["status", "retired_at", "updated_at"])
        _audit(previous, kind="policy.retired", actor=approver, data={"replaced_by_version": policy.version})
    policy.status = PolicyStatus.ACTIVE
    policy.approved_by = approver
    policy.activated_at = now
    policy.save(update_fields=["status", "approved_by", "activated_at", "updated_at"])
    _audit(
        policy,
        kind="policy.activated",
        actor=approver,
        data={
            "author": policy.created_by.username if policy.created_by else "system",
            "approver": approver.username,
            "previous_version": previous.version if previous else None,
        },
    )
    return policy


def policy_approve(*, policy_id: Any, approver: Any) -> Policy:
    """Approve a submitted version and activate it; the previous active version retires atomically.

    Refused (nothing changed) when the approver wrote it (four-eyes) or lacks the role; a refusal
    is itself audited, in a transaction of its own.
    """
    try:
        return _approve(policy_id, approver)
    except (FourEyesError, PermissionDenied) as exc:
        policy = Policy.objects.filter(pk=policy_id).first()
        if policy is not None:
            with transaction.atomic():
                _audit(
                    policy,
                    kind="policy.approval_refused",
                    actor=approver,
                    outcome="refused",
                    data={"reason": exc.reason},
                )
        raise


@transaction.atomic
def policy_retire(*, policy_id: Any, actor: Any) -> Policy:
    """Withdraw a draft or submitted version. The active version retires only by approving its successor,
    so a flow never silently falls back to another policy."""
    _require_author(actor, "retire")
    policy = _locked(policy_id)
    if policy.status not in (PolicyStatus.DRAFT, PolicyStatus.SUBMITTED):
        raise PolicyStateError(
            f"version {policy.version} is {policy.status}; an active version is retired by approving its successor",
            field="status",
            status=policy.status,
        )
    policy.status = PolicyStatus.RETIRED
    policy.retired_at = timezone.now()
    policy.save(update_fields=["status", "retired_at", "updated_at"])
    _audit(policy, kind="policy.retired", actor=actor, data={"withdrawn": True})
    return policy

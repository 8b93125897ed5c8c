"""Policies for tests, activated through the real services (draft, submit, a second person approves)."""

from typing import Any

from orchestrator.models import Policy
from orchestrator.services.policies import policy_approve, policy_draft_create, policy_submit


def policy_activate(demo: dict[str, Any], spec: dict[str, Any], *, flow: str = "loan_approval") -> Policy:
    """The demo supervisor drafts and submits `spec`; the compliance officer approves it."""
    policy = policy_draft_create(flow=flow, spec=spec, author=demo["supervisor"])
    policy_submit(policy_id=policy.id, actor=demo["supervisor"])
    return policy_approve(policy_id=policy.id, approver=demo["compliance"])

"""Loan approval: confident, ordinary approvals complete on their own; risky or unsure ones go to underwriting.

The default policy below is version 1 of the flow's policy (docs/policies.md explains every key):
risk tiers from the amount, the applicant's income and risk flags; a debt-to-income rule; sanctions
hits held; a stricter threshold for declines and for the high tier; critical cases always to people;
QA sampling of auto-decisions per tier, denser just above the threshold.
"""

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from workflows.flows import Flow


class LoanApplication(BaseModel):
    """The intake payload. Unknown keys are kept (documents, notes); the figures must be sane."""

    model_config = ConfigDict(extra="allow")

    applicant: str | None = Field(default=None, max_length=100)
    amount: float | None = Field(default=None, ge=0, le=100_000_000)
    income: float | None = Field(default=None, ge=0)
    iban: str | None = Field(default=None, max_length=40)


class LoanDecision(BaseModel):
    """The credit model's proposal (and an underwriter's correction): approve or decline, maybe new terms."""

    model_config = ConfigDict(extra="allow")

    label: Literal["approve", "decline"]
    limit: int | None = Field(default=None, ge=0)
    apr: float | None = Field(default=None, ge=0, le=100)


def iban_invalid(facts: Mapping[str, Any]) -> bool:
    """A custom gate: the payout IBAN, when given, fails its ISO 13616 mod-97 check."""
    payload = facts.get("payload") or {}
    iban = payload.get("iban") if isinstance(payload, Mapping) else None
    if not iban:
        return False
    text = str(iban).replace(" ", "").upper()
    if len(text) < 15 or not text.isalnum():
        return True
    digits = "".join(str(int(ch, 36)) for ch in text[4:] + text[:4])
    return int(digits) % 97 != 1


DEFAULT_POLICY: dict[str, Any] = {
    "description": "Loan approval: tiers by amount, income and risk flags; people decide what is unsure or risky.",
    "fields": {
        "payload.amount": {"type": "number", "default": 0},
        "payload.income": {"type": "number", "default": 0},
        "risk.flags": {"type": "list", "default": []},
        "risk.pep": {"type": "bool", "default": False},
    },
    "queue": "underwriting",
    "priority": 0,
    "tiers": [
        {
            "name": "low",
            "reviewers": 1,
            "sla_seconds": 86400,
            "timeout_outcome": "hold",
            "qa": {"rate": 0.02, "buckets": [{"from": 0.9, "to": 0.95, "rate": 0.1}]},
        },
        {
            "name": "medium",
            "priority": 1,
            "reviewers": 1,
            "sla_seconds": 28800,
            "escalation": [{"after_seconds": 14400, "action": "notify"}],
            "timeout_outcome": "hold",
            "qa": {"rate": 0.05},
        },
        {
            "name": "high",
            "priority": 5,
            "reviewers": 2,
            "sla_seconds": 14400,
            "escalation": [
                {"after_seconds": 3600, "action": "notify"},
                {"after_seconds": 7200, "action": "raise_priority", "priority": 10},
            ],
            "timeout_outcome": "reject",
            "qa": {"rate": 0.2},
        },
        {
            "name": "critical",
            "priority": 10,
            "reviewers": 2,
            "sla_seconds": 7200,
            "escalation": [{"after_seconds": 1800, "action": "notify"}],
            "timeout_outcome": "reject",
            "always_human": True,
        },
    ],
    "tier_rules": [
        {"tier": "critical", "when": "risk.pep || 'sanctions' in risk.flags || payload.amount > 500000"},
        {"tier": "high", "when": "payload.amount > 100000 || size(risk.flags) > 0"},
        {"tier": "medium", "when": "payload.amount > 20000"},
    ],
    "default_tier": "low",
    "gates": [
        {
            "name": "sanctions_hit",
            "type": "rule",
            "when": "'sanctions' in risk.flags",
            "route": "hold",
            "description": "A sanctions screening hit waits on hold until compliance clears it.",
        },
        {"name": "iban_invalid", "type": "custom", "function": "iban_invalid", "route": "hold"},
        {
            "name": "debt_to_income",
            "type": "rule",
            "when": "payload.income > 0 && payload.amount > 0.6 * payload.income",
            "route": {"kind": "review", "priority": 5},
        },
        {
            "name": "decline_confidence",
            "type": "confidence",
            "when": {"label": "decline", "below": 0.97},
            "route": "review",
            "description": "A proposed decline needs more confidence than an approval.",
        },
        {
            "name": "high_tier_confidence",
            "type": "confidence",
            "tiers": ["high"],
            "when": {"below": 0.97},
            "route": "review",
        },
        {
            "name": "confidence",
            "type": "confidence",
            "when": {"at_least": 0.9},
            "route": "auto_approve",
            "otherwise": "review",
        },
    ],
    "default_route": "review",
    "error_route": "review",
    "hold": {"queue": "underwriting", "priority": 20},
}

FLOW = Flow(
    name="loan_approval",
    title="Loan approval",
    description="A credit model proposes approve/decline; underwriters review what it is unsure of.",
    default_policy=DEFAULT_POLICY,
    queues=(("underwriting", "Underwriting"),),
    custom_gates={"iban_invalid": iban_invalid},
    input_schema=LoanApplication,
    output_schema=LoanDecision,
    display_fields=("applicant", "amount", "income"),
)

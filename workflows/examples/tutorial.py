"""The flow built in docs/flows.md (the tutorial includes this file verbatim; a test keeps them equal)."""

from typing import Literal

from pydantic import BaseModel, Field

from workflows.flows import Flow


class Expense(BaseModel):
    """What the client sends as the payload: one expense claim."""

    employee: str = Field(min_length=1)
    amount: float = Field(gt=0)
    category: Literal["travel", "meals", "equipment", "other"]


class ExpenseDecision(BaseModel):
    """What the model answers (and what a reviewer may correct)."""

    label: Literal["approve", "reject"]
    reimburse: float | None = Field(default=None, ge=0)


POLICY = {
    "fields": {"payload.amount": {"type": "number"}},
    "queue": "expenses",
    "tiers": [
        {"name": "small", "reviewers": 1, "sla_seconds": 86400, "timeout_outcome": "hold"},
        {"name": "large", "reviewers": 2, "sla_seconds": 86400, "timeout_outcome": "reject"},
    ],
    "tier_rules": [{"tier": "large", "when": "payload.amount > 1000.0"}],
    "gates": [
        {"name": "large_claims", "type": "rule", "when": "payload.amount > 1000.0", "route": "review"},
        {
            "name": "confident",
            "type": "confidence",
            "when": {"at_least": 0.9},
            "route": "auto_approve",
            "otherwise": "review",
        },
    ],
}

FLOW = Flow(
    name="expense_approval",
    title="Expense approval",
    description="A model approves expense claims; people check large or unsure ones.",
    default_policy=POLICY,
    queues=(("expenses", "Expenses"),),
    input_schema=Expense,
    output_schema=ExpenseDecision,
    display_fields=("employee", "amount", "category"),
)

"""Payment fraud: a fraud scorer screens payments; large ones always need two people (four-eyes).

Below the four-eyes amount, a clearly legitimate payment is released and an almost certain fraud is
blocked automatically; everything else goes to fraud operations. Above it, every payment is decided
by two distinct reviewers. Nobody answering in time puts the payment on **hold** (never released by
default). The client sends the payment as `inputs`; the flow's model step scores it.
"""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from workflows.flows import Flow, ModelStep

FOUR_EYES_AMOUNT = 10000


class Merchant(BaseModel):
    id: str = Field(min_length=1)
    country: str = Field(pattern=r"^[A-Z]{2}$")
    mcc: str = Field(pattern=r"^\d{4}$")


class Payment(BaseModel):
    """The intake payload: one card payment."""

    model_config = ConfigDict(extra="allow")

    payment_id: str = Field(min_length=1, max_length=100)
    amount: float = Field(gt=0)
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    card_country: str = Field(pattern=r"^[A-Z]{2}$")
    merchant: Merchant


class FraudAssessment(BaseModel):
    label: Literal["legit", "fraud"]
    score: float = Field(ge=0, le=1)


DEFAULT_POLICY = {
    "description": f"Four-eyes above {FOUR_EYES_AMOUNT}; hold when nobody answers in time.",
    "fields": {"payload.amount": {"type": "number", "default": 0}},
    "queue": "fraud-ops",
    "tiers": [
        {
            "name": "standard",
            "reviewers": 1,
            "sla_seconds": 3600,
            "escalation": [{"after_seconds": 1800, "action": "notify", "when": "unclaimed"}],
            "timeout_outcome": "hold",
            "qa": {"rate": 0.05},
        },
        {
            "name": "four_eyes",
            "priority": 5,
            "reviewers": 2,
            "sla_seconds": 7200,
            "escalation": [{"after_seconds": 3600, "action": "raise_priority", "priority": 10}],
            "timeout_outcome": "hold",
            "always_human": True,
        },
    ],
    "tier_rules": [{"tier": "four_eyes", "when": f"payload.amount > {FOUR_EYES_AMOUNT}.0"}],
    "default_tier": "standard",
    "gates": [
        {
            "name": "certain_fraud",
            "type": "confidence",
            "when": {"label": "fraud", "at_least": 0.99},
            "route": "auto_reject",
        },
        {
            "name": "clearly_legit",
            "type": "confidence",
            "when": {"label": "legit", "at_least": 0.95},
            "route": "auto_approve",
            "otherwise": "review",
        },
    ],
    "default_route": "review",
    "error_route": "hold",
    "hold": {"queue": "fraud-ops", "priority": 20},
}

# The outcome goes back to the payment system: where it listens is deployment data, so its URL lives
# in the policy (`"callbacks": [{"name": "payments", "url": ...}]`, signed as in docs/notifications.md),
# not in this file. tests/integration/test_example_flows.py points it at a local receiver.

FLOW = Flow(
    name="payment_fraud",
    title="Payment fraud",
    description="A fraud scorer screens card payments; two people decide every large one.",
    default_policy=DEFAULT_POLICY,
    queues=(("fraud-ops", "Fraud operations"),),
    input_schema=Payment,
    output_schema=FraudAssessment,
    model=ModelStep(
        name="toy-fraud", version="3", function="workflows.examples.toy_models.fraud_score", timeout_seconds=5
    ),
    display_fields=("amount", "currency", "merchant.country", "card_country", "merchant.mcc"),
)

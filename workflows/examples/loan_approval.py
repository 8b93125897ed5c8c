"""Loan approval: confident model approvals complete on their own; the rest go to underwriting."""

from workflows.flows import Flow

FLOW = Flow(
    name="loan_approval",
    title="Loan approval",
    description="A credit model proposes approve/decline; underwriters review what it is unsure of.",
    default_policy={
        "confidence_threshold": 0.9,
        "queue": "underwriting",
        "priority": 0,
    },
    queues=(("underwriting", "Underwriting"),),
)

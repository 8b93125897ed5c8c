"""The record: every table people query or list lives here."""

from orchestrator.models.audit import AuditChainHead, AuditEvent
from orchestrator.models.decision import Decision, DecisionOutcome, DecisionStatus, RouteKind
from orchestrator.models.outbox import Outbox, OutboxTopic
from orchestrator.models.policy import Policy, PolicyStatus
from orchestrator.models.queue import Queue
from orchestrator.models.review import Review, ReviewTask, TaskState, Verdict

__all__ = [
    "AuditChainHead",
    "AuditEvent",
    "Decision",
    "DecisionOutcome",
    "DecisionStatus",
    "Outbox",
    "OutboxTopic",
    "Policy",
    "PolicyStatus",
    "Queue",
    "Review",
    "ReviewTask",
    "RouteKind",
    "TaskState",
    "Verdict",
]

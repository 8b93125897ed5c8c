"""The record: every table people query or list lives here."""

from orchestrator.models.audit import (
    AuditChainHead,
    AuditCheckpoint,
    AuditEvent,
    AuditExport,
    AuditExportStatus,
    AuditTombstone,
    LegalHold,
)
from orchestrator.models.decision import Decision, DecisionOutcome, DecisionStatus, RouteKind
from orchestrator.models.notification import Notification, NotificationStatus
from orchestrator.models.outbox import Outbox, OutboxTopic
from orchestrator.models.policy import Policy, PolicyStatus
from orchestrator.models.queue import Queue
from orchestrator.models.review import (
    HELD_STATES,
    OPEN_STATES,
    Absence,
    Review,
    ReviewTask,
    TaskComment,
    TaskJudgement,
    TaskKind,
    TaskSkip,
    TaskState,
    Verdict,
)

__all__ = [
    "Notification",
    "NotificationStatus",
    "HELD_STATES",
    "OPEN_STATES",
    "Absence",
    "TaskComment",
    "TaskJudgement",
    "TaskKind",
    "TaskSkip",
    "AuditChainHead",
    "AuditCheckpoint",
    "AuditEvent",
    "AuditExport",
    "AuditExportStatus",
    "AuditTombstone",
    "LegalHold",
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

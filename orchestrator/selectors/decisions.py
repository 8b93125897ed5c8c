from typing import Any

from django.db.models import QuerySet

from orchestrator.models import AuditEvent, Decision


def decision_get(*, decision_id: Any) -> Decision | None:
    return Decision.objects.select_related("policy").filter(pk=decision_id).first()


def audit_events_for_decision(*, decision_id: Any) -> QuerySet[AuditEvent]:
    """A decision's events, oldest first (they share one chain partition, so seq is their order)."""
    return AuditEvent.objects.filter(decision_id=decision_id).order_by("seq")

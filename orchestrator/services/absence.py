"""Out-of-office substitution: while a reviewer is away, work routed to them goes to their delegate."""

from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from orchestrator.audit.chain import audit_append
from orchestrator.errors import ValidationFailed
from orchestrator.models import Absence


@transaction.atomic
def absence_set(*, user: Any, delegate: Any, starts_at: datetime, ends_at: datetime) -> Absence:
    """Replace the user's current or upcoming absence with this window."""
    if delegate.pk == user.pk:
        raise ValidationFailed("you cannot delegate to yourself", field="delegate")
    if ends_at <= starts_at:
        raise ValidationFailed("must be after starts_at", field="ends_at")
    if ends_at <= timezone.now():
        raise ValidationFailed("the absence is already over", field="ends_at")
    if Absence.objects.filter(user=delegate, starts_at__lt=ends_at, ends_at__gt=starts_at).exists():
        raise ValidationFailed("the delegate is away during that window", field="delegate")
    Absence.objects.filter(user=user, ends_at__gt=timezone.now()).delete()
    absence = Absence.objects.create(user=user, delegate=delegate, starts_at=starts_at, ends_at=ends_at)
    audit_append(
        kind="absence.set",
        actor=user,
        subject_type="user",
        subject_id=str(user.pk),
        data={"delegate": delegate.get_username(), "starts_at": starts_at.isoformat(), "ends_at": ends_at.isoformat()},
    )
    return absence


@transaction.atomic
def absence_clear(*, user: Any) -> int:
    removed, _ = Absence.objects.filter(user=user, ends_at__gt=timezone.now()).delete()
    if removed:
        audit_append(kind="absence.cleared", actor=user, subject_type="user", subject_id=str(user.pk), data={})
    return removed

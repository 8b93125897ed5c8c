"""Calibration from reviewer outcomes and a recommended threshold, saved as a draft (never activated).

Ground truth: decisions that people settled (routed to review or hold, then completed). The model
agreed with people when the outcome is `approved`. These are mostly the cases the model was unsure
of; QA reviews of auto-decisions add truth above the threshold once they exist.
"""

import copy
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models.fields.json import KT

from orchestrator.errors import ValidationFailed
from orchestrator.gates.stats import HUMAN_ROUTES, calibration
from orchestrator.models import Decision, DecisionOutcome, Policy
from orchestrator.models.policy import PolicySource
from orchestrator.selectors.policies import policy_active_for
from orchestrator.services.policies import policy_draft_create


def calibration_samples(
    *, flow: str, label: str | None = None, since: datetime | None = None, until: datetime | None = None
) -> list[tuple[float, bool]]:
    decisions = Decision.objects.filter(flow=flow, route__in=sorted(HUMAN_ROUTES)).exclude(outcome="")
    if since is not None:
        decisions = decisions.filter(created_at__gte=since)
    if until is not None:
        decisions = decisions.filter(created_at__lt=until)
    if label is not None:
        decisions = decisions.annotate(model_label=KT("output__label")).filter(model_label=label)
    return [(c, o == DecisionOutcome.APPROVED) for c, o in decisions.values_list("confidence", "outcome").iterator()]


def spec_with_threshold(spec: dict[str, Any], *, threshold: float, label: str | None) -> dict[str, Any]:
    """A copy of `spec` that auto-approves at `threshold` (for `label`, or any label).

    The global case sets the shorthand `confidence_threshold`, or the plain `at_least` of the gate
    named `confidence`; a label gets a gate `calibrated_<label>` placed before the first confidence
    gate (so risk rules listed earlier still win), replacing an earlier calibration of that label.
    """
    new = copy.deepcopy(spec)
    if label is None:
        if "confidence_threshold" in new:
            new["confidence_threshold"] = threshold
            return new
        for gate in new.get("gates", []):
            when = gate.get("when")
            if gate.get("name") == "confidence" and isinstance(when, dict) and set(when) == {"at_least"}:
                gate["when"] = {"at_least": threshold}
                return new
    name = f"calibrated_{label}" if label else "calibrated"
    gate = {
        "name": name,
        "type": "confidence",
        "when": {"label": label, "at_least": threshold} if label else {"at_least": threshold},
        "route": "auto_approve",
        "description": "Recommended by calibration from reviewer outcomes.",
    }
    gates = [g for g in new.get("gates", []) if g.get("name") != name]
    position = next((i for i, g in enumerate(gates) if g.get("type") == "confidence"), len(gates))
    gates.insert(position, gate)
    new["gates"] = gates
    return new


@transaction.atomic
def policy_calibrate(
    *,
    flow: str,
    author: Any,
    label: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    target_error: float = 0.02,
    level: float = 0.95,
    min_support: int = 30,
    bins: int = 10,
    save_draft: bool = True,
) -> tuple[dict[str, Any], Policy | None]:
    """The reliability table and recommended threshold; with a recommendation and `save_draft`, a new
    draft version of the flow's active policy using it (a person submits it, another approves it)."""
    if not 0.0 < target_error < 1.0:
        raise ValidationFailed("must be between 0 and 1 (exclusive)", field="target_error")
    if not 0.5 <= level < 1.0:
        raise ValidationFailed("must be at least 0.5 and below 1", field="level")
    if not 2 <= bins <= 100:
        raise ValidationFailed("must be between 2 and 100", field="bins")
    report = calibration(
        calibration_samples(flow=flow, label=label, since=since, until=until),
        bins=bins,
        target_error=target_error,
        level=level,
        min_support=min_support,
    )
    report.update(flow=flow, label=label)
    recommended = report["recommended"]
    if not recommended or not save_draft:
        return report, None
    active = policy_active_for(flow=flow)
    if active is None:
        raise ValidationFailed(f"flow {flow!r} has no active policy to base a recommendation on", field="flow")
    spec = spec_with_threshold(active.spec, threshold=recommended["threshold"], label=label)
    note = (
        f"Calibration: threshold {recommended['threshold']:.2f}{f' for label {label}' if label else ''} keeps the "
        f"auto-decision error at {recommended['error_rate']:.4f} (upper bound {recommended['upper']:.4f} at "
        f"{level:.0%}) over {recommended['count']} reviewed decisions; target {target_error}."
    )
    draft = policy_draft_create(
        flow=flow,
        spec=spec,
        author=author,
        note=note,
        source=PolicySource.CALIBRATION,
        based_on_version=active.version,
        extra_audit={"recommended": recommended, "label": label, "target_error": target_error, "level": level},
    )
    return report, draft

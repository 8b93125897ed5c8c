"""Backtest a policy spec (usually a draft) over stored decisions. Reads only: nothing is written."""

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from orchestrator.flows import flow_get
from orchestrator.gates import PolicySpec
from orchestrator.gates.custom import custom_gate_facts, run_custom_gates
from orchestrator.gates.stats import HistoryRow, backtest, z_for
from orchestrator.models import Decision
from orchestrator.services.policies import policy_spec_validate

_CHUNK = 5000


def history_rows(
    *, flow: str, since: datetime | None = None, until: datetime | None = None, using: str = "default"
) -> Iterator[HistoryRow]:
    """The flow's stored decisions in [since, until), streamed in chunks (constant memory)."""
    decisions = Decision.objects.using(using).filter(flow=flow)
    if since is not None:
        decisions = decisions.filter(created_at__gte=since)
    if until is not None:
        decisions = decisions.filter(created_at__lt=until)
    columns = ("id", "confidence", "output", "payload", "risk", "route", "outcome")
    for pk, confidence, output, payload, risk, route, outcome in decisions.values_list(*columns).iterator(
        chunk_size=_CHUNK
    ):
        yield HistoryRow(str(pk), confidence, output, payload, risk, route, outcome)


def policy_backtest(
    *,
    flow: str,
    spec: Any,
    since: datetime | None = None,
    until: datetime | None = None,
    level: float = 0.95,
    using: str = "default",
    compiled: PolicySpec | None = None,
) -> dict[str, Any]:
    """Route the flow's past decisions under `spec` and report what would have happened (see gates.stats)."""
    compiled = compiled or policy_spec_validate(flow=flow, spec=spec)
    definition = flow_get(flow)
    functions = definition.custom_gates if definition else {}
    needed = compiled.custom_needed

    def custom(row: HistoryRow) -> tuple[dict[str, bool], dict[str, str]]:
        facts = custom_gate_facts(confidence=row.confidence, output=row.output, payload=row.payload, risk=row.risk)
        return run_custom_gates(functions, needed, facts)

    report = backtest(
        compiled,
        history_rows(flow=flow, since=since, until=until, using=using),
        custom=custom if needed else None,
        z=z_for(level),
    )
    return {
        "flow": flow,
        "since": since.isoformat() if since else None,
        "until": until.isoformat() if until else None,
        "level": level,
        **report,
    }

"""Gate evaluation, shared by live routing, the reviewer's explanation and backtests. Pure: no Django, no I/O.

Order: the tier first (tier rules, first match wins), then the gates in their listed order; the first
gate that fires decides the route (a gate fires when its test passes, or when it fails and the gate
has an `otherwise` route). No gate fired: the default route. A gate that cannot be evaluated (a
missing field, a rule error, a custom gate that raised) stops evaluation and sends the decision to
the error route (review unless the policy says hold): fail-closed.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from orchestrator.gates.cel import RuleEvalError
from orchestrator.gates.conditions import ScoreMissing, score_value
from orchestrator.gates.sampling import qa_draw
from orchestrator.gates.spec import AUTO_KINDS, Gate, PolicySpec, RouteSpec, Tier

_MISSING = object()
# JSON numbers reach rules as doubles, so `0.6 * payload.income` never meets an int (CEL has no mixed arithmetic).
_FLOATS = frozenset({"number", "double"})


@dataclass(frozen=True)
class DecisionFacts:
    """What the gates may look at: the model's output and confidence, payload, risk attributes and the
    results of the flow's custom gates (computed by the caller, so evaluation stays pure)."""

    confidence: float
    output: Any = None
    payload: Mapping[str, Any] = field(default_factory=dict)
    risk: Mapping[str, Any] = field(default_factory=dict)
    decision_id: str = ""
    custom: Mapping[str, bool] = field(default_factory=dict)
    custom_errors: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Route:
    kind: str  # auto_approve | auto_reject | review | hold
    queue: str | None
    priority: int
    explanation: dict[str, Any]
    tier: str = ""
    reviewers: int = 1
    sla_seconds: int | None = None
    escalation: tuple[dict[str, Any], ...] = ()
    timeout_outcome: str = ""
    qa_sample: bool = False


class _GateError(Exception):
    pass


def _label(spec: PolicySpec, output: Any) -> str | None:
    if isinstance(output, dict):
        value = output.get(spec.label_field)
        return value if isinstance(value, str) else None
    return output if isinstance(output, str) else None


def _rule_data(spec: PolicySpec, facts: DecisionFacts, label: str | None) -> tuple[dict[str, Any], dict[str, str]]:
    """The values the rules may name; a declared field that is absent or of the wrong type is left out."""
    data: dict[str, Any] = {"confidence": float(facts.confidence), "label": label or "", "tier": ""}
    problems: dict[str, str] = {}
    roots = {"payload": facts.payload, "risk": facts.risk, "output": facts.output}
    for decl in spec.fields:
        value: Any = roots[decl.path[0]]
        for key in decl.path[1:]:
            value = value.get(key, _MISSING) if isinstance(value, dict) else _MISSING
            if value is _MISSING:
                break
        if value is _MISSING or value is None:
            if decl.has_default:
                data[decl.name] = float(decl.default) if decl.type in _FLOATS else decl.default
            else:
                problems[decl.name] = "missing"
            continue
        if not decl.check(value):
            problems[decl.name] = f"not a {decl.type}"
            continue
        data[decl.name] = float(value) if decl.type in _FLOATS else value
    for name in spec.custom_needed:
        if name in facts.custom:
            data[f"custom.{name}"] = bool(facts.custom[name])
    return data, problems


def _why_missing(rule_inputs: tuple[str, ...], problems: Mapping[str, str], message: str) -> str:
    for name in rule_inputs:
        if name in problems:
            return f"{name} is {problems[name]}"
    return message


def _assign_tier(
    spec: PolicySpec, data: dict[str, Any], problems: Mapping[str, str], activation: Any
) -> tuple[str, dict[str, Any]]:
    for tier, rule in spec.tier_rules:
        try:
            if rule.evaluate(activation):
                return tier, {"name": tier, "by": rule.text, "input": {n: data.get(n) for n in rule.inputs}}
        except RuleEvalError as exc:
            # A tier rule that cannot be evaluated puts the decision in the highest tier: fail-closed.
            highest = spec.tier_order[-1]
            return highest, {"name": highest, "by": rule.text, "error": _why_missing(rule.inputs, problems, str(exc))}
    return spec.default_tier, {"name": spec.default_tier, "by": "default"}


def _gate(
    spec: PolicySpec, gate: Gate, facts: DecisionFacts, label: str | None, data: dict[str, Any], activation: Any
) -> tuple[bool, dict[str, Any]]:
    """(passed, explanation entry); raises _GateError(reason, entry) when it cannot be evaluated."""
    if gate.type == "confidence":
        inputs: dict[str, Any] = {"confidence": facts.confidence}
        if gate.uses_label:
            inputs["label"] = label
        for name in gate.scores:
            inputs[f"score_of.{name}"] = score_value(facts.output, spec.scores_field, name)
        entry = {"gate": gate.name, "type": "confidence", "input": inputs, "threshold": gate.threshold}
        assert gate.condition is not None
        try:
            return gate.condition.check(facts.confidence, label, facts.output), entry
        except ScoreMissing as exc:
            raise _GateError(str(exc), entry) from exc
    if gate.type == "rule":
        rule = gate.rule
        assert rule is not None
        entry = {
            "gate": gate.name,
            "type": "rule",
            "rule": rule.text,
            "input": {name: data.get(name) for name in rule.inputs},
            "threshold": None,
        }
        try:
            return rule.evaluate(activation), entry
        except RuleEvalError as exc:
            raise _GateError(str(exc), entry) from exc
    assert gate.function is not None
    entry = {"gate": gate.name, "type": "custom", "function": gate.function, "input": {}, "threshold": None}
    if gate.function in facts.custom_errors:
        raise _GateError(f"custom gate {gate.function!r} failed: {facts.custom_errors[gate.function]}", entry)
    if gate.function not in facts.custom:
        raise _GateError(f"custom gate {gate.function!r} was not computed", entry)
    return bool(facts.custom[gate.function]), entry


def _describe(gate: Gate, passed: bool, facts: DecisionFacts) -> str:
    if gate.type == "confidence" and isinstance(gate.threshold, float):
        relation = "is at or above" if passed else "is below"
        return f"confidence {facts.confidence:.3f} {relation} the threshold {gate.threshold:.3f}"
    what = {"confidence": "confidence test", "rule": "rule", "custom": "custom gate"}[gate.type]
    return f"{what} {gate.name!r} {'matched' if passed else 'did not match'}"


def evaluate(spec: PolicySpec, facts: DecisionFacts, *, policy_version: int | str | None = None) -> Route:
    """Route a decision. The explanation names every gate evaluated, its inputs, threshold and result,
    which one fired, the tier, the QA draw and the policy version."""
    label = _label(spec, facts.output)
    activation = None
    data: dict[str, Any] = {}
    problems: dict[str, str] = {}
    if spec.env is not None:
        data, problems = _rule_data(spec, facts, label)
        activation = spec.env.activation(data)
    if spec.tier_rules:
        tier_name, tier_why = _assign_tier(spec, data, problems, activation)
    else:
        tier_name, tier_why = spec.default_tier, {"name": spec.default_tier, "by": "default"}
    tier: Tier = spec.tiers[tier_name]
    if spec.rules_use_tier:
        # Tier rules ran with tier = "": gate rules that name the tier get a binding with the real one.
        data["tier"] = tier_name
        activation = spec.env.activation(data) if spec.env is not None else None

    entries: list[dict[str, Any]] = []
    fired = "default"
    route_spec: RouteSpec = spec.default_route
    summary = f"no gate fired, so the default route applies ({spec.default_route.kind})"
    not_evaluated: list[str] = []
    for index, gate in enumerate(spec.gates):
        if gate.tiers is not None and tier_name not in gate.tiers:
            entries.append({"gate": gate.name, "type": gate.type, "skipped": gate.skipped_note})
            continue
        try:
            passed, entry = _gate(spec, gate, facts, label, data, activation)
        except _GateError as exc:
            reason = exc.args[0]
            if gate.rule is not None:
                reason = _why_missing(gate.rule.inputs, problems, reason)
            entry = exc.args[1]
            entry.update(passed=None, error=reason, fired=True)
            entries.append(entry)
            fired, route_spec = gate.name, spec.error_route
            summary = f"gate {gate.name!r} could not be evaluated ({reason}), so the fail-safe route applies"
            not_evaluated = [g.name for g in spec.gates[index + 1 :]]
            break
        decided = gate.route if passed else gate.otherwise
        entry["passed"] = passed
        entry["fired"] = decided is not None
        entries.append(entry)
        if decided is not None:
            fired, route_spec = gate.name, decided
            summary = _describe(gate, passed, facts)
            not_evaluated = [g.name for g in spec.gates[index + 1 :]]
            break

    kind = route_spec.kind
    overridden = None
    if kind in AUTO_KINDS and tier.always_human:
        overridden = f"tier {tier.name!r} is always decided by a person: {kind} became review"
        kind = "review"
        summary = f"{summary}; {overridden}"

    explanation: dict[str, Any] = {
        "policy_version": policy_version,
        "tier": tier_why,
        "gates": entries,
        "fired": fired,
        "route": kind,
    }
    if not_evaluated:
        explanation["not_evaluated"] = not_evaluated
    if problems:
        explanation["field_problems"] = problems
    if overridden:
        explanation["override"] = overridden

    if kind in AUTO_KINDS:
        rate = tier.qa_rate_for(facts.confidence)
        draw = qa_draw(facts.decision_id, policy_version) if rate > 0.0 else None
        sampled = draw is not None and draw < rate
        explanation["qa"] = {"rate": rate, "draw": draw, "sampled": sampled}
        explanation["qa_sample"] = sampled
        explanation["summary"] = summary + (": auto-decided and sampled for QA review" if sampled else "")
        return Route(
            kind=kind,
            queue=None,
            priority=tier.priority,
            explanation=explanation,
            tier=tier.name,
            reviewers=0,
            timeout_outcome="",
            qa_sample=sampled,
        )

    if kind == "hold":
        queue = route_spec.queue or spec.hold_queue or tier.queue
        priority = route_spec.priority if route_spec.priority is not None else spec.hold_priority
    else:
        queue = route_spec.queue or tier.queue
        priority = route_spec.priority if route_spec.priority is not None else tier.priority
    reviewers = route_spec.reviewers or tier.reviewers
    sla = route_spec.sla_seconds or tier.sla_seconds
    explanation.update(
        queue=queue,
        priority=priority,
        reviewers=reviewers,
        sla_seconds=sla,
        timeout_outcome=tier.timeout_outcome,
        qa_sample=False,
        summary=summary,
    )
    return Route(
        kind=kind,
        queue=queue,
        priority=priority,
        explanation=explanation,
        tier=tier.name,
        reviewers=reviewers,
        sla_seconds=sla,
        escalation=tier.escalation,
        timeout_outcome=tier.timeout_outcome,
        qa_sample=False,
    )

"""The policy spec: validated and compiled once per policy version, then evaluated many times.

`parse_spec` checks every key of the JSON document (docs/policies.md is the reference) and raises
`PolicySpecError` naming the path of the first bad value and the reason; for a rule it also gives the
rule text and the line and column the CEL compiler points at.
"""

import hashlib
import json
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any
from urllib.parse import urlsplit

from orchestrator.gates.cel import FIELD_TYPES, CompiledRule, RuleCompileError, RuleEnv
from orchestrator.gates.conditions import Check, compile_combine, compile_leaf

ROUTE_KINDS = ("auto_approve", "auto_reject", "review", "hold")
AUTO_KINDS = frozenset({"auto_approve", "auto_reject"})
TIMEOUT_OUTCOMES = ("reject", "hold", "approve")
ESCALATION_ACTIONS = ("notify", "reassign", "raise_priority")
# A step fires when the task is still unclaimed, or still undecided (claimed or not), at its time.
ESCALATION_CONDITIONS = ("undecided", "unclaimed")
FIELD_ROOTS = ("payload", "risk", "output")
MAX_REVIEWERS = 10
MAX_RULE_LENGTH = 2000
DEFAULT_TIER = "default"
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_FIELD = re.compile(r"^(payload|risk|output)(\.[A-Za-z_][A-Za-z0-9_]*)+$")


class PolicySpecError(ValueError):
    """A spec refused: `field` is the JSON path of the bad value; rules add their text and position."""

    def __init__(
        self, field: str, reason: str, *, rule: str | None = None, line: int | None = None, column: int | None = None
    ) -> None:
        where = f" at line {line}, column {column}" if line is not None else ""
        super().__init__(f"{field}: {reason}{where}")
        self.field = field
        self.reason = reason
        self.rule = rule
        self.line = line
        self.column = column


# ---------------------------------------------------------------- compiled pieces


@dataclass(frozen=True)
class Leaf:
    """A confidence test: the decision's confidence (or one class score) against bounds, maybe for one label."""

    label: str | None
    score_of: str | None
    at_least: float | None
    below: float | None
    check: Check = field(repr=False, compare=False, default=lambda c, label, output: False)


@dataclass(frozen=True)
class Combine:
    op: str  # all | any | not
    parts: tuple["Condition", ...]
    check: Check = field(repr=False, compare=False, default=lambda c, label, output: False)


Condition = Leaf | Combine


@dataclass(frozen=True)
class RouteSpec:
    kind: str
    queue: str | None = None
    priority: int | None = None
    reviewers: int | None = None
    sla_seconds: int | None = None


@dataclass(frozen=True)
class QaBucket:
    lo: float
    hi: float
    rate: float


@dataclass(frozen=True)
class Tier:
    name: str
    queue: str
    priority: int
    reviewers: int
    sla_seconds: int | None
    escalation: tuple[dict[str, Any], ...]
    timeout_outcome: str
    always_human: bool
    qa_rate: float
    qa_buckets: tuple[QaBucket, ...]

    def qa_rate_for(self, confidence: float) -> float:
        for bucket in self.qa_buckets:
            if bucket.lo <= confidence < bucket.hi or (bucket.hi == 1.0 and confidence == 1.0):
                return bucket.rate
        return self.qa_rate


@dataclass(frozen=True)
class Gate:
    name: str
    type: str  # confidence | rule | custom
    route: RouteSpec
    otherwise: RouteSpec | None
    tiers: frozenset[str] | None
    condition: Condition | None = None
    rule: CompiledRule | None = None
    function: str | None = None
    uses_label: bool = False
    scores: tuple[str, ...] = ()
    threshold: Any = None  # what the explanation shows: one number for a plain threshold, else the condition

    @cached_property
    def skipped_note(self) -> str:
        """Built once per policy version: a tier-scoped gate is skipped on every decision of another tier."""
        return f"applies to tiers {sorted(self.tiers or ())}"


@dataclass(frozen=True)
class FieldDecl:
    name: str
    type: str
    path: tuple[str, ...]
    check: Callable[[Any], bool]
    has_default: bool
    default: Any


@dataclass(frozen=True)
class PolicySpec:
    """A compiled, validated policy version. Immutable; shared by every evaluation of that version."""

    gates: tuple[Gate, ...]
    tiers: Mapping[str, Tier]
    tier_order: tuple[str, ...]
    tier_rules: tuple[tuple[str, CompiledRule], ...]
    default_tier: str
    default_route: RouteSpec
    error_route: RouteSpec
    hold_queue: str | None
    hold_priority: int
    label_field: str
    scores_field: str
    fields: tuple[FieldDecl, ...]
    custom_needed: frozenset[str]
    queue_refs: tuple[tuple[str, str], ...]  # (path, queue slug) for every queue the spec names
    env: RuleEnv | None  # one CEL environment (and one activation per decision) for tier rules and rule gates
    rules_use_tier: bool = False
    degradation: "Degradation | None" = None
    breaker: "BreakerSpec" = field(default_factory=lambda: BreakerSpec())
    callbacks: tuple[tuple[str, str], ...] = ()  # (name, url) outcome callbacks the policy adds to the flow's


# ---------------------------------------------------------------- small validators


def _keys(raw: Any, path: str, allowed: Collection[str], required: Collection[str] = ()) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise PolicySpecError(path, "must be an object")
    for key in raw:
        if key not in allowed:
            raise PolicySpecError(
                f"{path}.{key}" if path != "spec" else key, f"unknown key; allowed: {sorted(allowed)}"
            )
    for key in required:
        if key not in raw:
            raise PolicySpecError(f"{path}.{key}" if path != "spec" else key, "is required")
    return raw


def _unit(value: Any, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PolicySpecError(path, "must be a number")
    if not 0.0 <= value <= 1.0:
        raise PolicySpecError(path, "must be between 0 and 1")
    return float(value)


def _int(value: Any, path: str, *, lo: int | None = None, hi: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise PolicySpecError(path, "must be an integer")
    if lo is not None and value < lo:
        raise PolicySpecError(path, f"must be at least {lo}")
    if hi is not None and value > hi:
        raise PolicySpecError(path, f"must be at most {hi}")
    return value


def _str(value: Any, path: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise PolicySpecError(path, "must be a non-empty string")
    return value


def _name(value: Any, path: str) -> str:
    if not isinstance(value, str) or not _NAME.match(value):
        raise PolicySpecError(path, "must be a lowercase name: a-z, 0-9 and _, starting with a letter")
    return value


def _list(value: Any, path: str) -> list[Any]:
    if not isinstance(value, list):
        raise PolicySpecError(path, "must be a list")
    return value


_CHECKS: dict[str, Callable[[Any], bool]] = {
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "double": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "string": lambda v: isinstance(v, str),
    "bool": lambda v: isinstance(v, bool),
    "list": lambda v: isinstance(v, list),
    "map": lambda v: isinstance(v, dict),
    "any": lambda v: True,
}


# ---------------------------------------------------------------- sections


def _fields(raw: Any) -> tuple[FieldDecl, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, dict):
        raise PolicySpecError("fields", "must be an object of field name -> type")
    out = []
    for name, decl in raw.items():
        path = f"fields.{name}"
        if not _FIELD.match(name):
            raise PolicySpecError(path, f"a field is named root.key, with root one of {list(FIELD_ROOTS)}")
        if isinstance(decl, str):
            decl = {"type": decl}
        decl = _keys(decl, path, {"type", "default"}, {"type"})
        kind = decl["type"]
        if kind not in FIELD_TYPES:
            raise PolicySpecError(f"{path}.type", f"must be one of {sorted(FIELD_TYPES)}")
        check = _CHECKS[kind]
        if "default" in decl and not check(decl["default"]):
            raise PolicySpecError(f"{path}.default", f"is not a {kind}")
        out.append(
            FieldDecl(
                name=name,
                type=kind,
                path=tuple(name.split(".")),
                check=check,
                has_default="default" in decl,
                default=decl.get("default"),
            )
        )
    return tuple(out)


def _condition(raw: Any, path: str, scores_field: str = "scores") -> Condition:
    if not isinstance(raw, dict):
        raise PolicySpecError(path, "must be an object: a test, or {all|any: [...]} or {not: {...}}")
    combinators = [k for k in ("all", "any", "not") if k in raw]
    if combinators:
        if len(raw) != 1:
            raise PolicySpecError(path, "a combinator (all, any, not) stands alone in its object")
        op = combinators[0]
        if op == "not":
            inner = _condition(raw["not"], f"{path}.not", scores_field)
            return Combine(op="not", parts=(inner,), check=compile_combine("not", [inner.check]))
        items = _list(raw[op], f"{path}.{op}")
        if not items:
            raise PolicySpecError(f"{path}.{op}", "must not be empty")
        parts = tuple(_condition(item, f"{path}.{op}[{i}]", scores_field) for i, item in enumerate(items))
        return Combine(op=op, parts=parts, check=compile_combine(op, [p.check for p in parts]))
    raw = _keys(raw, path, {"label", "score_of", "at_least", "below"})
    bounded = "at_least" in raw or "below" in raw
    if not bounded and ("score_of" in raw or "label" not in raw):
        raise PolicySpecError(path, "a confidence test needs at_least, below or both (or only a label to match)")
    at_least = _unit(raw["at_least"], f"{path}.at_least") if "at_least" in raw else None
    below = _unit(raw["below"], f"{path}.below") if "below" in raw else None
    if at_least is not None and below is not None and at_least >= below:
        raise PolicySpecError(path, "at_least must be lower than below")
    label = _str(raw["label"], f"{path}.label") if "label" in raw else None
    score_of = _str(raw["score_of"], f"{path}.score_of") if "score_of" in raw else None
    check = compile_leaf(label, score_of, at_least, below, scores_field)
    return Leaf(label=label, score_of=score_of, at_least=at_least, below=below, check=check)


def _leaves(condition: Condition) -> Any:
    if isinstance(condition, Leaf):
        yield condition
        return
    for part in condition.parts:
        yield from _leaves(part)


def _route(raw: Any, path: str, refs: list[tuple[str, str]]) -> RouteSpec:
    if isinstance(raw, str):
        raw = {"kind": raw}
    raw = _keys(raw, path, {"kind", "queue", "priority", "reviewers", "sla_seconds"}, {"kind"})
    kind = raw["kind"]
    if kind not in ROUTE_KINDS:
        raise PolicySpecError(f"{path}.kind" if len(raw) > 1 else path, f"must be one of {list(ROUTE_KINDS)}")
    if kind in AUTO_KINDS and len(raw) > 1:
        raise PolicySpecError(path, f"{kind} takes no queue, priority, reviewers or sla_seconds")
    queue = None
    if "queue" in raw:
        queue = _str(raw["queue"], f"{path}.queue")
        refs.append((f"{path}.queue", queue))
    return RouteSpec(
        kind=kind,
        queue=queue,
        priority=_int(raw["priority"], f"{path}.priority") if "priority" in raw else None,
        reviewers=_int(raw["reviewers"], f"{path}.reviewers", lo=1, hi=MAX_REVIEWERS) if "reviewers" in raw else None,
        sla_seconds=_int(raw["sla_seconds"], f"{path}.sla_seconds", lo=1) if "sla_seconds" in raw else None,
    )


def _qa(raw: Any, path: str) -> tuple[float, tuple[QaBucket, ...]]:
    raw = _keys(raw, path, {"rate", "buckets"})
    rate = _unit(raw.get("rate", 0.0), f"{path}.rate")
    buckets = []
    for i, item in enumerate(_list(raw.get("buckets", []), f"{path}.buckets")):
        bpath = f"{path}.buckets[{i}]"
        item = _keys(item, bpath, {"from", "to", "rate"}, {"from", "to", "rate"})
        lo, hi = _unit(item["from"], f"{bpath}.from"), _unit(item["to"], f"{bpath}.to")
        if lo >= hi:
            raise PolicySpecError(bpath, "from must be lower than to")
        buckets.append(QaBucket(lo=lo, hi=hi, rate=_unit(item["rate"], f"{bpath}.rate")))
    buckets.sort(key=lambda b: b.lo)
    for a, b in zip(buckets, buckets[1:], strict=False):
        if b.lo < a.hi:
            raise PolicySpecError(f"{path}.buckets", f"buckets [{a.lo}, {a.hi}) and [{b.lo}, {b.hi}) overlap")
    return rate, tuple(buckets)


def _escalation(raw: Any, path: str, refs: list[tuple[str, str]]) -> tuple[dict[str, Any], ...]:
    steps = []
    last = 0
    for i, item in enumerate(_list(raw, path)):
        spath = f"{path}[{i}]"
        item = _keys(
            item,
            spath,
            {"after_seconds", "action", "queue", "priority", "when", "reset_clock"},
            {"after_seconds", "action"},
        )
        after = _int(item["after_seconds"], f"{spath}.after_seconds", lo=1)
        if after <= last:
            raise PolicySpecError(f"{spath}.after_seconds", "must be later than the step before")
        last = after
        action = item["action"]
        if action not in ESCALATION_ACTIONS:
            raise PolicySpecError(f"{spath}.action", f"must be one of {list(ESCALATION_ACTIONS)}")
        when = item.get("when", "undecided")
        if when not in ESCALATION_CONDITIONS:
            raise PolicySpecError(f"{spath}.when", f"must be one of {list(ESCALATION_CONDITIONS)}")
        reset_clock = item.get("reset_clock", False)
        if not isinstance(reset_clock, bool):
            raise PolicySpecError(f"{spath}.reset_clock", "must be true or false")
        step: dict[str, Any] = {"after_seconds": after, "action": action, "when": when, "reset_clock": reset_clock}
        if "queue" in item:
            step["queue"] = _str(item["queue"], f"{spath}.queue")
            refs.append((f"{spath}.queue", step["queue"]))
        elif action == "reassign":
            raise PolicySpecError(f"{spath}.queue", "a reassign step names the queue it moves the task to")
        if "priority" in item:
            step["priority"] = _int(item["priority"], f"{spath}.priority")
        steps.append(step)
    return tuple(steps)


def _tiers(raw: dict[str, Any], refs: list[tuple[str, str]]) -> dict[str, Tier]:
    default_queue = _str(raw["queue"], "queue") if "queue" in raw else None
    if default_queue:
        refs.append(("queue", default_queue))
    default_priority = _int(raw.get("priority", 0), "priority")
    default_qa = _qa(raw["qa"], "qa") if "qa" in raw else (0.0, ())
    items = _list(raw["tiers"], "tiers") if "tiers" in raw else [{"name": DEFAULT_TIER}]
    if not items:
        raise PolicySpecError("tiers", "must not be empty")
    tiers: dict[str, Tier] = {}
    allowed = {"name", "queue", "priority", "reviewers", "sla_seconds", "escalation", "timeout_outcome"}
    allowed |= {"always_human", "qa"}
    for i, item in enumerate(items):
        path = f"tiers[{i}]"
        item = _keys(item, path, allowed, {"name"})
        name = _name(item["name"], f"{path}.name")
        if name in tiers:
            raise PolicySpecError(f"{path}.name", f"tier {name!r} is defined twice")
        if "queue" in item:
            queue = _str(item["queue"], f"{path}.queue")
            refs.append((f"{path}.queue", queue))
        elif default_queue:
            queue = default_queue
        else:
            raise PolicySpecError(f"{path}.queue" if "tiers" in raw else "queue", "must name a queue")
        always_human = item.get("always_human", False)
        if not isinstance(always_human, bool):
            raise PolicySpecError(f"{path}.always_human", "must be true or false")
        timeout = item.get("timeout_outcome", "hold")
        if timeout not in TIMEOUT_OUTCOMES:
            raise PolicySpecError(f"{path}.timeout_outcome", f"must be one of {list(TIMEOUT_OUTCOMES)}")
        if timeout == "approve" and always_human:
            raise PolicySpecError(
                f"{path}.timeout_outcome", "a tier that is always decided by a person cannot approve on timeout"
            )
        qa_rate, qa_buckets = _qa(item["qa"], f"{path}.qa") if "qa" in item else default_qa
        sla = _int(item["sla_seconds"], f"{path}.sla_seconds", lo=1) if "sla_seconds" in item else None
        steps = _escalation(item.get("escalation", []), f"{path}.escalation", refs)
        for j, step in enumerate(steps):
            if sla is not None and step["after_seconds"] >= sla:
                raise PolicySpecError(
                    f"{path}.escalation[{j}].after_seconds",
                    f"is at or after the tier's final deadline (sla_seconds {sla}); it would never fire",
                )
        tiers[name] = Tier(
            name=name,
            queue=queue,
            priority=_int(item.get("priority", default_priority), f"{path}.priority"),
            reviewers=_int(item.get("reviewers", 1), f"{path}.reviewers", lo=1, hi=MAX_REVIEWERS),
            sla_seconds=sla,
            escalation=steps,
            timeout_outcome=timeout,
            always_human=always_human,
            qa_rate=qa_rate,
            qa_buckets=qa_buckets,
        )
    return tiers


def _rule(env: RuleEnv, text: Any, path: str) -> CompiledRule:
    text = _str(text, path)
    if len(text) > MAX_RULE_LENGTH:
        raise PolicySpecError(path, f"is longer than {MAX_RULE_LENGTH} characters", rule=text[:200])
    try:
        return env.compile(text)
    except RuleCompileError as exc:
        raise PolicySpecError(path, exc.reason, rule=text, line=exc.line, column=exc.column) from exc


def _variables(fields: tuple[FieldDecl, ...], custom_gates: Collection[str], *, with_tier: bool) -> dict[str, Any]:
    variables = {"confidence": FIELD_TYPES["double"], "label": FIELD_TYPES["string"]}
    if with_tier:
        variables["tier"] = FIELD_TYPES["string"]
    for decl in fields:
        variables[decl.name] = FIELD_TYPES[decl.type]
    for name in custom_gates:
        variables[f"custom.{name}"] = FIELD_TYPES["bool"]
    return variables


_TOP = {
    "description",
    "fields",
    "label_field",
    "scores_field",
    "queue",
    "priority",
    "qa",
    "confidence_threshold",
    "below_threshold",
    "tiers",
    "tier_rules",
    "default_tier",
    "gates",
    "default_route",
    "error_route",
    "hold",
    "degradation",
    "callbacks",
}
_GATE_KEYS = {"name", "type", "when", "function", "route", "otherwise", "tiers", "description"}


def _compile(raw: dict[str, Any], custom_gates: frozenset[str]) -> PolicySpec:
    _keys(raw, "spec", _TOP)
    if "description" in raw and not isinstance(raw["description"], str):
        raise PolicySpecError("description", "must be a string")
    refs: list[tuple[str, str]] = []
    fields = _fields(raw.get("fields"))
    tiers = _tiers(raw, refs)
    tier_order = tuple(tiers)
    label_field = _str(raw.get("label_field", "label"), "label_field")
    scores_field = _str(raw.get("scores_field", "scores"), "scores_field")

    gate_env = RuleEnv(_variables(fields, custom_gates, with_tier=True))
    tier_env = RuleEnv(_variables(fields, custom_gates, with_tier=False))
    custom_needed: set[str] = set()

    tier_rules = []
    for i, item in enumerate(_list(raw.get("tier_rules", []), "tier_rules")):
        path = f"tier_rules[{i}]"
        item = _keys(item, path, {"tier", "when"}, {"tier", "when"})
        if item["tier"] not in tiers:
            raise PolicySpecError(f"{path}.tier", f"unknown tier {item['tier']!r}; tiers: {list(tier_order)}")
        checked = _rule(tier_env, item["when"], f"{path}.when")  # a tier rule cannot name the tier
        custom_needed.update(n.removeprefix("custom.") for n in checked.inputs if n.startswith("custom."))
        tier_rules.append((item["tier"], gate_env.compile(checked.text)))  # shares the gates' activation
    default_tier = raw.get("default_tier", tier_order[0])
    if default_tier not in tiers:
        raise PolicySpecError("default_tier", f"unknown tier {default_tier!r}; tiers: {list(tier_order)}")

    gates: list[Gate] = []
    items = list(_list(raw.get("gates", []), "gates"))
    if "confidence_threshold" in raw:
        # Shorthand (and the first spec shape): one global threshold gate, evaluated after the others.
        items.append(
            {
                "name": "confidence",
                "type": "confidence",
                "when": {"at_least": raw["confidence_threshold"]},
                "route": "auto_approve",
                "otherwise": raw.get("below_threshold", "review"),
            }
        )
    elif "below_threshold" in raw:
        raise PolicySpecError("below_threshold", "is only meaningful with confidence_threshold")
    names: set[str] = set()
    for i, item in enumerate(items):
        shorthand = "confidence_threshold" in raw and i == len(items) - 1
        path = f"gates[{i}]"
        item = _keys(item, path, _GATE_KEYS, {"name", "type", "route"})
        name = _name(item["name"], f"{path}.name")
        if name in names:
            raise PolicySpecError(f"{path}.name", f"gate {name!r} is defined twice")
        names.add(name)
        kind = item["type"]
        route = _route(item["route"], f"{path}.route", refs)
        otherwise = None
        if "otherwise" in item:
            otherwise = _route(item["otherwise"], "below_threshold" if shorthand else f"{path}.otherwise", refs)
        gate_tiers = None
        if "tiers" in item:
            gate_tiers = frozenset(_list(item["tiers"], f"{path}.tiers"))
            unknown = sorted(str(t) for t in gate_tiers - set(tiers))
            if unknown:
                raise PolicySpecError(f"{path}.tiers", f"unknown tiers {unknown}; tiers: {list(tier_order)}")
        common = {"name": name, "type": kind, "route": route, "otherwise": otherwise, "tiers": gate_tiers}
        if kind == "confidence":
            if "when" not in item:
                raise PolicySpecError(f"{path}.when", "is required")
            when_path = "confidence_threshold" if shorthand else f"{path}.when"
            if shorthand:
                _unit(raw["confidence_threshold"], "confidence_threshold")
            condition = _condition(item["when"], when_path, scores_field)
            leaves = list(_leaves(condition))
            plain = isinstance(condition, Leaf) and condition.label is None and condition.score_of is None
            single = condition.at_least if isinstance(condition, Leaf) and condition.below is None else None
            gates.append(
                Gate(
                    **common,
                    condition=condition,
                    uses_label=any(leaf.label is not None for leaf in leaves),
                    scores=tuple(sorted({leaf.score_of for leaf in leaves if leaf.score_of is not None})),
                    threshold=single if plain and single is not None else item["when"],
                )
            )
        elif kind == "rule":
            if "when" not in item:
                raise PolicySpecError(f"{path}.when", "is required")
            rule = _rule(gate_env, item["when"], f"{path}.when")
            custom_needed.update(n.removeprefix("custom.") for n in rule.inputs if n.startswith("custom."))
            gates.append(Gate(**common, rule=rule))
        elif kind == "custom":
            function = _str(item.get("function", name), f"{path}.function")
            if function not in custom_gates:
                raise PolicySpecError(
                    f"{path}.function",
                    f"the flow registers no custom gate {function!r}; registered: {sorted(custom_gates)}",
                )
            custom_needed.add(function)
            gates.append(Gate(**common, function=function))
        else:
            raise PolicySpecError(f"{path}.type", "must be one of ['confidence', 'rule', 'custom']")

    default_route = _route(raw.get("default_route", "review"), "default_route", refs)
    error_route = _route(raw.get("error_route", "review"), "error_route", refs)
    if error_route.kind in AUTO_KINDS:
        raise PolicySpecError("error_route", "must send a decision to people (review or hold): it is the fail-safe")

    hold_queue, hold_priority = None, 0
    if "hold" in raw:
        hold = _keys(raw["hold"], "hold", {"queue", "priority"}, {"queue"})
        hold_queue = _str(hold["queue"], "hold.queue")
        refs.append(("hold.queue", hold_queue))
        hold_priority = _int(hold.get("priority", 0), "hold.priority")
    routes = [(f"gates[{i}]", g.route) for i, g in enumerate(gates)]
    routes += [(f"gates[{i}]", g.otherwise) for i, g in enumerate(gates) if g.otherwise]
    routes += [("default_route", default_route), ("error_route", error_route)]
    for path, route in routes:
        if route.kind == "hold" and hold_queue is None and route.queue is None:
            raise PolicySpecError("hold.queue", f"{path} routes to hold, so the spec needs a hold queue")

    degradation, breaker = _degradation(raw.get("degradation"), tiers, refs)
    callbacks = _callbacks(raw.get("callbacks", []))

    return PolicySpec(
        degradation=degradation,
        breaker=breaker,
        callbacks=callbacks,
        gates=tuple(gates),
        tiers=tiers,
        tier_order=tier_order,
        tier_rules=tuple(tier_rules),
        default_tier=default_tier,
        default_route=default_route,
        error_route=error_route,
        hold_queue=hold_queue,
        hold_priority=hold_priority,
        label_field=label_field,
        scores_field=scores_field,
        fields=fields,
        custom_needed=frozenset(custom_needed),
        queue_refs=tuple(refs),
        env=gate_env if tier_rules or any(g.rule for g in gates) else None,
        rules_use_tier=any(g.rule is not None and "tier" in g.rule.inputs for g in gates),
    )


# ---------------------------------------------------------------- degradation, breaker, callbacks

DEGRADATION_ACTIONS = ("raise_qa", "hold", "auto_decide", "alert")
# What a tier that is always decided by a person may do under load: go on to people, and raise an alert.
ALWAYS_HUMAN_ACTIONS = ("alert", "raise_qa")


@dataclass(frozen=True)
class Rung:
    """One step of a tier's degradation ladder; applies while the queue is degraded and `when` holds."""

    action: str
    wait_over_sla: bool = False
    depth_over: int | None = None
    rate: float | None = None  # raise_qa
    max_held: int | None = None  # hold
    queue: str | None = None  # hold: where held decisions wait (default: the tier's queue)
    revocation_seconds: int | None = None  # auto_decide
    qa_rate: float | None = None  # auto_decide: the post-hoc QA sample

    def holds(self, *, wait_over_sla: bool, depth: int) -> bool:
        if self.wait_over_sla and not wait_over_sla:
            return False
        return self.depth_over is None or depth > self.depth_over

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None and v is not False}


@dataclass(frozen=True)
class Degradation:
    """When a (flow, queue) enters and leaves degraded mode (hysteresis) and what each tier does then."""

    enter_wait_ratio: float | None
    enter_depth: int | None
    exit_wait_ratio: float
    exit_depth: int | None
    min_dwell_seconds: int
    ladder: Mapping[str, tuple[Rung, ...]]


@dataclass(frozen=True)
class BreakerSpec:
    """The model circuit breaker: trips on `failures` reported within `window_seconds`, or when the PSI of
    the last `drift_window` confidences against the baseline exceeds `psi_over`."""

    failures: int = 5
    window_seconds: int = 300
    psi_over: float | None = 0.25
    drift_window: int = 200
    baseline_size: int = 500
    cooldown_seconds: int = 300
    probation_seconds: int = 300


def _positive_number(value: Any, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise PolicySpecError(path, "must be a positive number")
    return float(value)


def _rung(item: Any, path: str, tier: Tier, refs: list[tuple[str, str]]) -> Rung:
    item = _keys(
        item, path, {"when", "action", "rate", "max_held", "queue", "revocation_seconds", "qa_rate"}, {"action"}
    )
    action = item["action"]
    if action not in DEGRADATION_ACTIONS:
        raise PolicySpecError(f"{path}.action", f"must be one of {list(DEGRADATION_ACTIONS)}")
    if tier.always_human and action not in ALWAYS_HUMAN_ACTIONS:
        raise PolicySpecError(
            f"{path}.action",
            f"tier {tier.name!r} is always decided by a person: {action} is not allowed "
            f"(allowed: {list(ALWAYS_HUMAN_ACTIONS)})",
        )
    when = _keys(item.get("when", {}), f"{path}.when", {"predicted_wait_over_sla", "depth_over"})
    wait = when.get("predicted_wait_over_sla", False)
    if not isinstance(wait, bool):
        raise PolicySpecError(f"{path}.when.predicted_wait_over_sla", "must be true or false")
    depth = _int(when["depth_over"], f"{path}.when.depth_over", lo=0) if "depth_over" in when else None
    needs = {"raise_qa": ("rate",), "hold": ("max_held",), "auto_decide": ("revocation_seconds", "qa_rate")}
    takes = {"raise_qa": {"rate"}, "hold": {"max_held", "queue"}, "auto_decide": {"revocation_seconds", "qa_rate"}}
    for key in needs.get(action, ()):
        if key not in item:
            raise PolicySpecError(f"{path}.{key}", f"is required for {action}")
    for key in ("rate", "max_held", "queue", "revocation_seconds", "qa_rate"):
        if key in item and key not in takes.get(action, set()):
            raise PolicySpecError(f"{path}.{key}", f"does not apply to {action}")
    queue = None
    if "queue" in item:
        queue = _str(item["queue"], f"{path}.queue")
        refs.append((f"{path}.queue", queue))
    return Rung(
        action=action,
        wait_over_sla=wait,
        depth_over=depth,
        rate=_unit(item["rate"], f"{path}.rate") if "rate" in item else None,
        max_held=_int(item["max_held"], f"{path}.max_held", lo=1) if "max_held" in item else None,
        queue=queue,
        revocation_seconds=(
            _int(item["revocation_seconds"], f"{path}.revocation_seconds", lo=1)
            if "revocation_seconds" in item
            else None
        ),
        qa_rate=_unit(item["qa_rate"], f"{path}.qa_rate") if "qa_rate" in item else None,
    )


def _breaker(raw: Any, path: str) -> BreakerSpec:
    raw = _keys(
        raw,
        path,
        {
            "failures",
            "window_seconds",
            "psi_over",
            "drift_window",
            "baseline_size",
            "cooldown_seconds",
            "probation_seconds",
        },
    )
    default = BreakerSpec()
    psi = default.psi_over
    if "psi_over" in raw:
        psi = None if raw["psi_over"] is None else _positive_number(raw["psi_over"], f"{path}.psi_over")
    return BreakerSpec(
        failures=_int(raw.get("failures", default.failures), f"{path}.failures", lo=1),
        window_seconds=_int(raw.get("window_seconds", default.window_seconds), f"{path}.window_seconds", lo=1),
        psi_over=psi,
        drift_window=_int(raw.get("drift_window", default.drift_window), f"{path}.drift_window", lo=10),
        baseline_size=_int(raw.get("baseline_size", default.baseline_size), f"{path}.baseline_size", lo=10),
        cooldown_seconds=_int(raw.get("cooldown_seconds", default.cooldown_seconds), f"{path}.cooldown_seconds", lo=0),
        probation_seconds=_int(
            raw.get("probation_seconds", default.probation_seconds), f"{path}.probation_seconds", lo=0
        ),
    )


def _degradation(
    raw: Any, tiers: Mapping[str, Tier], refs: list[tuple[str, str]]
) -> tuple[Degradation | None, BreakerSpec]:
    if raw is None:
        return None, BreakerSpec()
    raw = _keys(raw, "degradation", {"enter", "exit", "min_dwell_seconds", "ladder", "breaker"})
    breaker = _breaker(raw["breaker"], "degradation.breaker") if "breaker" in raw else BreakerSpec()
    enter = _keys(raw.get("enter", {"wait_over_sla": 1.0}), "degradation.enter", {"wait_over_sla", "depth_over"})
    if not enter:
        raise PolicySpecError("degradation.enter", "needs wait_over_sla, depth_over or both")
    enter_wait = (
        _positive_number(enter["wait_over_sla"], "degradation.enter.wait_over_sla")
        if "wait_over_sla" in enter
        else None
    )
    enter_depth = _int(enter["depth_over"], "degradation.enter.depth_over", lo=1) if "depth_over" in enter else None
    leave = _keys(raw.get("exit", {}), "degradation.exit", {"wait_below_sla", "depth_below"})
    exit_wait = (
        _positive_number(leave["wait_below_sla"], "degradation.exit.wait_below_sla")
        if "wait_below_sla" in leave
        else (enter_wait or 1.0) / 2
    )
    if enter_wait is not None and exit_wait >= enter_wait:
        raise PolicySpecError("degradation.exit.wait_below_sla", "must be lower than enter.wait_over_sla (hysteresis)")
    exit_depth = None
    if "depth_below" in leave:
        exit_depth = _int(leave["depth_below"], "degradation.exit.depth_below", lo=0)
    elif enter_depth is not None:
        exit_depth = enter_depth // 2
    if enter_depth is not None and exit_depth is not None and exit_depth >= enter_depth:
        raise PolicySpecError("degradation.exit.depth_below", "must be lower than enter.depth_over (hysteresis)")
    dwell = _int(raw.get("min_dwell_seconds", 60), "degradation.min_dwell_seconds", lo=0)
    ladder_raw = raw.get("ladder", {})
    if not isinstance(ladder_raw, dict):
        raise PolicySpecError("degradation.ladder", "must be an object of tier name -> list of steps")
    ladder: dict[str, tuple[Rung, ...]] = {}
    for name, rungs in ladder_raw.items():
        path = f"degradation.ladder.{name}"
        if name not in tiers:
            raise PolicySpecError(path, f"unknown tier {name!r}; tiers: {list(tiers)}")
        ladder[name] = tuple(
            _rung(item, f"{path}[{i}]", tiers[name], refs) for i, item in enumerate(_list(rungs, path))
        )
    degradation = Degradation(
        enter_wait_ratio=enter_wait,
        enter_depth=enter_depth,
        exit_wait_ratio=exit_wait,
        exit_depth=exit_depth,
        min_dwell_seconds=dwell,
        ladder=ladder,
    )
    return degradation, breaker


def _callbacks(raw: Any) -> tuple[tuple[str, str], ...]:
    out: list[tuple[str, str]] = []
    for i, item in enumerate(_list(raw, "callbacks")):
        path = f"callbacks[{i}]"
        item = _keys(item, path, {"name", "url"}, {"name", "url"})
        name = _name(item["name"], f"{path}.name")
        if any(name == seen for seen, _ in out):
            raise PolicySpecError(f"{path}.name", f"callback {name!r} is defined twice")
        out.append((name, webhook_url(item["url"], f"{path}.url")))
    return tuple(out)


def webhook_url(value: Any, path: str) -> str:
    """A webhook or callback URL: http or https with a host, else refused naming the path."""
    text = _str(value, path)
    parsed = urlsplit(text)
    if parsed.scheme not in ("http", "https"):
        raise PolicySpecError(path, f"must be an http or https URL, not {parsed.scheme or 'a bare string'!r}")
    if not parsed.hostname:
        raise PolicySpecError(path, "must name a host")
    return text


# ---------------------------------------------------------------- the public entry point

_CACHE: "OrderedDict[str, PolicySpec]" = OrderedDict()
_CACHE_SIZE = 256
_CACHE_LOCK = threading.Lock()


def spec_key(raw: Any, custom_gates: Collection[str] = ()) -> str:
    """The cache key of a spec: its canonical JSON (with the flow's custom gate names), hashed."""
    body = json.dumps([raw, sorted(custom_gates)], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(body.encode()).hexdigest()


def parse_spec(
    raw: Any,
    *,
    queues: Collection[str] | None = None,
    custom_gates: Collection[str] = (),
    cache_key: str | None = None,
) -> PolicySpec:
    """Validate and compile a policy spec; raises PolicySpecError naming the path and the reason.

    Compiled specs are cached by `cache_key` (callers pass the policy's content hash), else by the
    spec's canonical JSON: a policy version compiles once per process. `queues`, when given, are the
    queue slugs that exist; a spec naming another is refused.
    """
    if not isinstance(raw, dict):
        raise PolicySpecError("spec", "must be an object")
    names = frozenset(custom_gates)
    key = f"{cache_key}|{','.join(sorted(names))}" if cache_key else spec_key(raw, names)
    with _CACHE_LOCK:
        spec = _CACHE.get(key)
        if spec is not None:
            _CACHE.move_to_end(key)
    if spec is None:
        spec = _compile(raw, names)
        with _CACHE_LOCK:
            _CACHE[key] = spec
            while len(_CACHE) > _CACHE_SIZE:
                _CACHE.popitem(last=False)
    if queues is not None:
        known = set(queues)
        for path, slug in spec.queue_refs:
            if slug not in known:
                raise PolicySpecError(path, f"unknown queue {slug!r}")
    return spec

import uuid

import pytest

from orchestrator.gates import DecisionFacts, PolicySpecError, evaluate, parse_spec
from orchestrator.gates.diff import spec_diff
from orchestrator.gates.sampling import qa_draw
from workflows.examples.loan_approval import FLOW as LOAN


@pytest.mark.parametrize(
    ("confidence", "threshold", "below", "route", "queue"),
    [
        (0.95, 0.9, "review", "auto_approve", None),
        (0.90, 0.9, "review", "auto_approve", None),  # the threshold itself is confident
        (0.89, 0.9, "review", "review", "underwriting"),
        (0.10, 0.9, "auto_reject", "auto_reject", None),
        (0.0, 0.0, "review", "auto_approve", None),
        (1.0, 1.0, "review", "auto_approve", None),
    ],
)
def test_confidence_gate_routes(confidence, threshold, below, route, queue):
    spec = parse_spec({"confidence_threshold": threshold, "queue": "underwriting", "below_threshold": below})
    result = evaluate(spec, DecisionFacts(confidence=confidence), policy_version=3)
    assert (result.kind, result.queue) == (route, queue)
    gate = result.explanation["gates"][0]
    assert gate["input"] == {"confidence": confidence}
    assert gate["threshold"] == threshold
    assert gate["passed"] is (confidence >= threshold)
    assert result.explanation["policy_version"] == 3
    assert result.explanation["fired"] == "confidence"


BASE = {"queue": "q"}


def rule_gate(when, route="review", **extra):  # type: ignore[no-untyped-def]
    return {"name": "r", "type": "rule", "when": when, "route": route, **extra}


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({}, "queue"),
        ({"confidence_threshold": 1.2, "queue": "q"}, "confidence_threshold"),
        ({"confidence_threshold": -0.1, "queue": "q"}, "confidence_threshold"),
        ({"confidence_threshold": True, "queue": "q"}, "confidence_threshold"),
        ({"confidence_threshold": 0.5}, "queue"),
        ({"confidence_threshold": 0.5, "queue": "q", "priority": "high"}, "priority"),
        ({"confidence_threshold": 0.5, "queue": "q", "below_threshold": "escalate"}, "below_threshold"),
        ({"confidence_threshold": 0.5, "queue": "q", "below_threshold": "hold"}, "hold.queue"),
        ({"queue": "q", "below_threshold": "review"}, "below_threshold"),
        ({"queue": "q", "threshold": 0.5}, "threshold"),  # unknown key: a typo is refused, not ignored
        ({**BASE, "qa": {"rate": 1.5}}, "qa.rate"),
        ({**BASE, "qa": {"rate": -0.01}}, "qa.rate"),
        ({**BASE, "qa": {"buckets": [{"from": 0.9, "to": 0.8, "rate": 0.1}]}}, "qa.buckets[0]"),
        ({**BASE, "qa": {"buckets": [{"from": 0.5, "to": 0.8, "rate": 2}]}}, "qa.buckets[0].rate"),
        (
            {**BASE, "qa": {"buckets": [{"from": 0.5, "to": 0.8, "rate": 0.1}, {"from": 0.7, "to": 0.9, "rate": 0.1}]}},
            "qa.buckets",
        ),
        ({**BASE, "tiers": []}, "tiers"),
        ({**BASE, "tiers": [{"name": "Low"}]}, "tiers[0].name"),
        ({**BASE, "tiers": [{"name": "low"}, {"name": "low"}]}, "tiers[1].name"),
        ({**BASE, "tiers": [{"name": "low", "reviewers": 0}]}, "tiers[0].reviewers"),
        ({**BASE, "tiers": [{"name": "low", "sla_seconds": 0}]}, "tiers[0].sla_seconds"),
        ({**BASE, "tiers": [{"name": "low", "timeout_outcome": "ignore"}]}, "tiers[0].timeout_outcome"),
        (
            {**BASE, "tiers": [{"name": "c", "always_human": True, "timeout_outcome": "approve"}]},
            "tiers[0].timeout_outcome",
        ),
        (
            {
                **BASE,
                "tiers": [
                    {
                        "name": "low",
                        "escalation": [
                            {"after_seconds": 60, "action": "notify"},
                            {"after_seconds": 60, "action": "notify"},
                        ],
                    }
                ],
            },
            "tiers[0].escalation[1].after_seconds",
        ),
        (
            {**BASE, "tiers": [{"name": "low", "escalation": [{"after_seconds": 60, "action": "reassign"}]}]},
            "tiers[0].escalation[0].queue",
        ),
        (
            {**BASE, "tiers": [{"name": "low", "escalation": [{"after_seconds": 60, "action": "page"}]}]},
            "tiers[0].escalation[0].action",
        ),
        ({**BASE, "tier_rules": [{"tier": "vip", "when": "true"}]}, "tier_rules[0].tier"),
        ({**BASE, "default_tier": "vip"}, "default_tier"),
        ({**BASE, "gates": [rule_gate("true", route="approve")]}, "gates[0].route"),
        ({**BASE, "gates": [rule_gate("true", route={"kind": "auto_approve", "queue": "q"})]}, "gates[0].route"),
        ({**BASE, "gates": [rule_gate("true"), rule_gate("false")]}, "gates[1].name"),
        (
            {**BASE, "gates": [{"name": "c", "type": "confidence", "when": {"score_of": "x"}, "route": "review"}]},
            "gates[0].when",
        ),
        (
            {
                **BASE,
                "gates": [
                    {"name": "c", "type": "confidence", "when": {"at_least": 0.9, "below": 0.5}, "route": "review"}
                ],
            },
            "gates[0].when",
        ),
        (
            {
                **BASE,
                "gates": [{"name": "c", "type": "confidence", "when": {"any": [{"below": 1.5}]}, "route": "review"}],
            },
            "gates[0].when.any[0].below",
        ),
        (
            {**BASE, "gates": [{"name": "c", "type": "custom", "function": "nope", "route": "review"}]},
            "gates[0].function",
        ),
        ({**BASE, "gates": [{"name": "c", "type": "magic", "route": "review"}]}, "gates[0].type"),
        ({**BASE, "gates": [rule_gate("true", tiers=["vip"])]}, "gates[0].tiers"),
        ({**BASE, "error_route": "auto_approve"}, "error_route"),
        ({**BASE, "fields": {"amount": "number"}}, "fields.amount"),
        ({**BASE, "fields": {"payload.amount": "float"}}, "fields.payload.amount.type"),
        ({**BASE, "fields": {"payload.amount": {"type": "number", "default": "x"}}}, "fields.payload.amount.default"),
    ],
)
def test_bad_specs_name_the_field(spec, field):
    with pytest.raises(PolicySpecError) as caught:
        parse_spec(spec)
    assert caught.value.field == field


RULE_SPEC = {**BASE, "fields": {"payload.amount": "number", "risk.flags": "list", "risk.country": "string"}}


@pytest.mark.parametrize(
    ("rule", "line", "column", "reason"),
    [
        ("payload.amount >", 1, 17, "Syntax error"),
        ("payload.amout > 1000", 1, 8, "unknown field 'payload.amout'"),
        ("risk.country > 3", 1, 14, "no matching overload"),
        ("payload.amount > 10 &&\n  payload.income > 2", 2, 10, "unknown field 'payload.income'"),
        ("risk.country", 1, 1, "must be true or false"),
    ],
)
def test_rule_errors_give_the_rule_and_the_position(rule, line, column, reason):
    with pytest.raises(PolicySpecError) as caught:
        parse_spec({**RULE_SPEC, "gates": [rule_gate(rule)]})
    error = caught.value
    assert (error.field, error.rule, error.line, error.column) == ("gates[0].when", rule, line, column)
    assert reason in error.reason


def test_unknown_queues_are_refused_when_the_caller_knows_the_queues():
    spec = {**BASE, "hold": {"queue": "holds"}, "gates": [rule_gate("true", route="hold")]}
    parse_spec(spec)  # pure validation alone cannot know queues
    with pytest.raises(PolicySpecError) as caught:
        parse_spec(spec, queues={"q"})
    assert (caught.value.field, caught.value.reason) == ("hold.queue", "unknown queue 'holds'")
    assert parse_spec(spec, queues={"q", "holds"}) is parse_spec(spec)  # compiled once, then cached


# A policy exercising every gate kind: tiers by rules, a hold rule, a custom gate, label and tier
# specific confidence tests, nested AND/OR, the default route.
RICH = {
    "fields": {
        "payload.amount": {"type": "number", "default": 0},
        "risk.flags": {"type": "list", "default": []},
        "payload.country": "string",
    },
    "queue": "general",
    "tiers": [
        {"name": "low", "qa": {"rate": 0.0}},
        {
            "name": "high",
            "queue": "senior",
            "priority": 5,
            "reviewers": 2,
            "sla_seconds": 3600,
            "timeout_outcome": "reject",
        },
        {"name": "critical", "queue": "senior", "priority": 9, "reviewers": 3, "always_human": True},
    ],
    "tier_rules": [
        {"tier": "critical", "when": "'pep' in risk.flags"},
        {"tier": "high", "when": "payload.amount > 10000"},
    ],
    "gates": [
        {"name": "fraud", "type": "rule", "when": "'fraud' in risk.flags", "route": "auto_reject"},
        {"name": "sanctions", "type": "rule", "when": "'sanctions' in risk.flags", "route": "hold"},
        {"name": "watchlist", "type": "custom", "function": "watchlist", "route": {"kind": "review", "queue": "fraud"}},
        {
            "name": "foreign",
            "type": "rule",
            "when": "payload.country != 'DE'",
            "route": {"kind": "review", "priority": 7},
        },
        {
            "name": "high_needs_more",
            "type": "confidence",
            "tiers": ["high"],
            "when": {"below": 0.98},
            "route": "review",
        },
        {
            "name": "sure",
            "type": "confidence",
            "when": {
                "any": [
                    {"all": [{"label": "approve"}, {"at_least": 0.9}]},
                    {"all": [{"label": "decline", "at_least": 0.97}, {"not": {"score_of": "fraud", "at_least": 0.2}}]},
                ]
            },
            "route": "auto_approve",
        },
    ],
    "default_route": "review",
    "hold": {"queue": "holds", "priority": 20},
}
RICH_SPEC = parse_spec(RICH, custom_gates={"watchlist"})


def facts(confidence=0.95, label="approve", amount=500, flags=(), country="DE", watch=False, scores=None):  # type: ignore[no-untyped-def]
    output = {"label": label, **({"scores": scores} if scores is not None else {})}
    return DecisionFacts(
        confidence=confidence,
        output=output,
        payload={"amount": amount, "country": country},
        risk={"flags": list(flags)},
        decision_id="d-1",
        custom={"watchlist": watch},
    )


@pytest.mark.parametrize(
    ("given", "kind", "fired", "tier", "queue", "priority", "reviewers"),
    [
        (facts(), "auto_approve", "sure", "low", None, 0, 0),
        (facts(confidence=0.89), "review", "default", "low", "general", 0, 1),
        (facts(label="decline", confidence=0.98, scores={"fraud": 0.1}), "auto_approve", "sure", "low", None, 0, 0),
        (facts(label="decline", confidence=0.98, scores={"fraud": 0.3}), "review", "default", "low", "general", 0, 1),
        (facts(label="decline", confidence=0.95, scores={"fraud": 0.1}), "review", "default", "low", "general", 0, 1),
        (facts(flags=["fraud"]), "auto_reject", "fraud", "low", None, 0, 0),
        (facts(flags=["sanctions"]), "hold", "sanctions", "low", "holds", 20, 1),
        (facts(watch=True), "review", "watchlist", "low", "fraud", 0, 1),
        (facts(country="FR"), "review", "foreign", "low", "general", 7, 1),
        (facts(amount=20000, confidence=0.97), "review", "high_needs_more", "high", "senior", 5, 2),
        (facts(amount=20000, confidence=0.99), "auto_approve", "sure", "high", None, 5, 0),
        # critical tiers are always decided by a person, even when a gate would auto-decide
        (facts(flags=["pep"], confidence=0.999), "review", "sure", "critical", "senior", 9, 3),
        (facts(flags=["pep", "fraud"]), "review", "fraud", "critical", "senior", 9, 3),
        # a rule that cannot be evaluated (payload.country missing) goes to the fail-safe route
        (
            DecisionFacts(confidence=0.99, output={"label": "approve"}, payload={}, custom={"watchlist": False}),
            "review",
            "foreign",
            "low",
            "general",
            0,
            1,
        ),
        # a custom gate that failed is fail-closed too
        (
            DecisionFacts(
                confidence=0.99, output="approve", payload={"country": "DE"}, custom_errors={"watchlist": "boom"}
            ),
            "review",
            "watchlist",
            "low",
            "general",
            0,
            1,
        ),
        # a missing class score is an error, not a silent pass
        (facts(label="decline", confidence=0.99), "review", "sure", "low", "general", 0, 1),
    ],
)
def test_gate_semantics(given, kind, fired, tier, queue, priority, reviewers):
    route = evaluate(RICH_SPEC, given, policy_version=4)
    assert (route.kind, route.explanation["fired"], route.tier) == (kind, fired, tier)
    assert (route.queue, route.priority, route.reviewers) == (queue, priority, reviewers)
    assert route.explanation["route"] == kind
    assert route.explanation["policy_version"] == 4


def test_explanation_lists_every_gate_evaluated_with_inputs_threshold_and_result():
    route = evaluate(RICH_SPEC, facts(amount=20000, confidence=0.97, country="DE"), policy_version=2)
    gates = {g["gate"]: g for g in route.explanation["gates"]}
    assert list(gates) == ["fraud", "sanctions", "watchlist", "foreign", "high_needs_more"]
    assert gates["fraud"] == {
        "gate": "fraud",
        "type": "rule",
        "rule": "'fraud' in risk.flags",
        "input": {"risk.flags": []},
        "threshold": None,
        "passed": False,
        "fired": False,
    }
    assert gates["foreign"]["input"] == {"payload.country": "DE"}
    assert gates["high_needs_more"]["input"] == {"confidence": 0.97}
    assert gates["high_needs_more"]["threshold"] == {"below": 0.98}
    assert gates["high_needs_more"]["fired"] is True
    assert route.explanation["not_evaluated"] == ["sure"]
    assert route.explanation["tier"] == {
        "name": "high",
        "by": "payload.amount > 10000",
        "input": {"payload.amount": 20000.0},
    }
    assert (route.sla_seconds, route.timeout_outcome) == (3600, "reject")


def test_skipped_gates_say_why_and_errors_say_which_field():
    route = evaluate(
        RICH_SPEC, DecisionFacts(confidence=0.99, output="approve", payload={}, custom={"watchlist": False})
    )
    foreign = route.explanation["gates"][3]
    assert foreign["error"] == "payload.country is missing"
    assert route.explanation["field_problems"] == {"payload.country": "missing"}
    assert "fail-safe" in route.explanation["summary"]
    low = evaluate(RICH_SPEC, facts())
    assert low.explanation["gates"][4] == {
        "gate": "high_needs_more",
        "type": "confidence",
        "skipped": "applies to tiers ['high']",
    }


@pytest.mark.parametrize(
    ("condition", "confidence", "label", "passed"),
    [
        ({"at_least": 0.8}, 0.8, "a", True),
        ({"below": 0.8}, 0.8, "a", False),
        ({"at_least": 0.5, "below": 0.8}, 0.79, "a", True),
        ({"label": "a", "at_least": 0.5}, 0.9, "b", False),
        ({"all": [{"label": "a"}, {"at_least": 0.9}]}, 0.95, "a", True),
        ({"all": [{"label": "a"}, {"at_least": 0.9}]}, 0.85, "a", False),
        ({"any": [{"label": "a", "at_least": 0.99}, {"label": "b", "at_least": 0.6}]}, 0.7, "b", True),
        ({"any": [{"label": "a", "at_least": 0.99}, {"label": "b", "at_least": 0.6}]}, 0.7, "a", False),
        ({"not": {"any": [{"label": "a"}, {"below": 0.5}]}}, 0.7, "b", True),
        ({"all": [{"any": [{"label": "a"}, {"label": "b"}]}, {"not": {"below": 0.75}}]}, 0.75, "b", True),
    ],
)
def test_nested_confidence_conditions(condition, confidence, label, passed):
    spec = parse_spec(
        {**BASE, "gates": [{"name": "c", "type": "confidence", "when": condition, "route": "auto_approve"}]}
    )
    route = evaluate(spec, DecisionFacts(confidence=confidence, output={"label": label}))
    assert route.explanation["gates"][0]["passed"] is passed
    assert route.kind == ("auto_approve" if passed else "review")


def test_default_route_is_fail_closed_review_unless_said_otherwise():
    assert evaluate(parse_spec(BASE), DecisionFacts(confidence=1.0)).kind == "review"
    spec = parse_spec({**BASE, "default_route": "auto_reject"})
    assert evaluate(spec, DecisionFacts(confidence=1.0)).kind == "auto_reject"


SAMPLED = parse_spec(
    {
        **BASE,
        "confidence_threshold": 0.5,
        "tiers": [
            {"name": "low", "qa": {"rate": 0.05, "buckets": [{"from": 0.5, "to": 0.6, "rate": 0.5}]}},
            {"name": "high", "qa": {"rate": 0.2}},
        ],
        "fields": {"risk.high": {"type": "bool", "default": False}},
        "tier_rules": [{"tier": "high", "when": "risk.high"}],
    }
)


@pytest.mark.parametrize(
    ("confidence", "high", "rate"),
    [(0.9, False, 0.05), (0.55, False, 0.5), (0.9, True, 0.2), (0.6, False, 0.05)],
)
def test_qa_sampling_rate_within_tolerance_over_10000_ids_and_deterministic(confidence, high, rate):
    ids = [str(uuid.UUID(int=i * 7919 + 1)) for i in range(10_000)]
    given = [DecisionFacts(confidence=confidence, risk={"high": high}, decision_id=i) for i in ids]
    routes = [evaluate(SAMPLED, f, policy_version=7) for f in given]
    assert all(r.kind == "auto_approve" for r in routes)
    sampled = sum(r.qa_sample for r in routes)
    # binomial: 4 standard deviations either side
    tolerance = 4 * (10_000 * rate * (1 - rate)) ** 0.5
    assert abs(sampled - 10_000 * rate) <= tolerance, sampled
    assert all(r.explanation["qa"]["rate"] == rate for r in routes)
    again = [evaluate(SAMPLED, f, policy_version=7).qa_sample for f in given]
    assert again == [r.qa_sample for r in routes]  # a replay routes the same way


def test_qa_draw_depends_on_decision_and_version():
    assert qa_draw("a", 1) == qa_draw("a", 1)
    assert qa_draw("a", 1) != qa_draw("a", 2)
    assert qa_draw("a", 1) != qa_draw("b", 1)
    assert 0.0 <= qa_draw("x", None) < 1.0


def test_reviewed_decisions_are_never_qa_sampled():
    route = evaluate(SAMPLED, DecisionFacts(confidence=0.1, decision_id="z"), policy_version=1)
    assert (route.kind, route.qa_sample, route.explanation["qa_sample"]) == ("review", False, False)


@pytest.mark.parametrize(
    ("confidence", "payload", "risk", "output", "kind", "tier"),
    [
        (0.99, {"amount": 1000}, {}, {"label": "approve"}, "auto_approve", "low"),
        (0.42, {"amount": 1000}, {}, {"label": "approve"}, "review", "low"),
        (0.97, {"amount": 25000, "income": 64000}, {"country": "DE"}, {"label": "approve"}, "auto_approve", "medium"),
        (0.95, {"amount": 150000, "income": 900000}, {}, {"label": "approve"}, "review", "high"),
        (0.99, {"amount": 150000, "income": 900000}, {}, {"label": "approve"}, "auto_approve", "high"),
        (0.99, {"amount": 600000, "income": 2000000}, {}, {"label": "approve"}, "review", "critical"),
        (0.99, {"amount": 1000}, {"pep": True}, {"label": "approve"}, "review", "critical"),
        (0.99, {"amount": 1000}, {"flags": ["sanctions"]}, {"label": "approve"}, "hold", "critical"),
        (0.99, {"amount": 50000, "income": 60000}, {}, {"label": "approve"}, "review", "medium"),
        (0.95, {"amount": 1000}, {}, {"label": "decline"}, "review", "low"),
        (0.98, {"amount": 1000}, {}, {"label": "decline"}, "auto_approve", "low"),
        (0.99, {"amount": 1000, "iban": "DE89 3704 0044 0532 0130 01"}, {}, {"label": "approve"}, "hold", "low"),
    ],
)
def test_the_loan_default_policy(confidence, payload, risk, output, kind, tier):
    from orchestrator.gates.custom import custom_gate_facts, run_custom_gates

    spec = parse_spec(LOAN.default_policy, custom_gates=LOAN.custom_gates)
    custom, errors = run_custom_gates(
        LOAN.custom_gates,
        spec.custom_needed,
        custom_gate_facts(confidence=confidence, output=output, payload=payload, risk=risk),
    )
    route = evaluate(
        spec,
        DecisionFacts(confidence=confidence, output=output, payload=payload, risk=risk, decision_id="x", custom=custom),
    )
    assert (route.kind, route.tier) == (kind, tier)
    if kind in ("review", "hold"):
        assert route.queue == "underwriting"


def test_spec_diff_reports_paths():
    old = {"confidence_threshold": 0.9, "queue": "u", "tiers": [{"name": "low"}]}
    new = {
        "confidence_threshold": 0.95,
        "queue": "u",
        "tiers": [{"name": "low"}, {"name": "high"}],
        "hold": {"queue": "h"},
    }
    assert spec_diff(old, new) == [
        {"path": "confidence_threshold", "change": "changed", "from": 0.9, "to": 0.95},
        {"path": "hold", "change": "added", "from": None, "to": {"queue": "h"}},
        {"path": "tiers[1]", "change": "added", "from": None, "to": {"name": "high"}},
    ]

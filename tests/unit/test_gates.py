import pytest

from orchestrator.gates import DecisionFacts, PolicySpecError, evaluate, parse_spec


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


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"queue": "q"}, "confidence_threshold"),
        ({"confidence_threshold": 1.2, "queue": "q"}, "confidence_threshold"),
        ({"confidence_threshold": True, "queue": "q"}, "confidence_threshold"),
        ({"confidence_threshold": 0.5}, "queue"),
        ({"confidence_threshold": 0.5, "queue": "q", "priority": "high"}, "priority"),
        ({"confidence_threshold": 0.5, "queue": "q", "below_threshold": "hold"}, "below_threshold"),
    ],
)
def test_bad_specs_name_the_field(spec, field):
    with pytest.raises(PolicySpecError) as caught:
        parse_spec(spec)
    assert caught.value.field == field

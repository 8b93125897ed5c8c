"""Policy validation of degradation ladders, breaker settings and callbacks; the drift statistic."""

import pytest

from orchestrator.gates import PolicySpecError, parse_spec
from orchestrator.gates.drift import histogram, psi

QUEUES = {"underwriting", "overflow"}


def spec(**extra):  # type: ignore[no-untyped-def]
    return {
        "queue": "underwriting",
        "tiers": [
            {"name": "low", "sla_seconds": 3600},
            {"name": "critical", "sla_seconds": 600, "always_human": True, "timeout_outcome": "reject"},
        ],
        "default_route": "review",
        **extra,
    }


def refused(raw):  # type: ignore[no-untyped-def]
    with pytest.raises(PolicySpecError) as info:
        parse_spec(raw, queues=QUEUES)
    return info.value


def test_a_full_ladder_compiles():  # type: ignore[no-untyped-def]
    compiled = parse_spec(
        spec(
            degradation={
                "enter": {"wait_over_sla": 1.0, "depth_over": 100},
                "exit": {"wait_below_sla": 0.5, "depth_below": 40},
                "min_dwell_seconds": 30,
                "ladder": {
                    "low": [
                        {
                            "when": {"depth_over": 300},
                            "action": "auto_decide",
                            "revocation_seconds": 600,
                            "qa_rate": 0.3,
                        },
                        {"action": "hold", "max_held": 50, "queue": "overflow"},
                    ],
                    "critical": [{"action": "alert"}],
                },
                "breaker": {"failures": 3, "window_seconds": 60, "psi_over": 0.2},
            },
            callbacks=[{"name": "crm", "url": "https://crm.example/decisions"}],
        ),
        queues=QUEUES,
    )
    d = compiled.degradation
    assert d is not None
    assert (d.enter_wait_ratio, d.enter_depth, d.exit_wait_ratio, d.exit_depth, d.min_dwell_seconds) == (
        1.0,
        100,
        0.5,
        40,
        30,
    )
    assert [r.action for r in d.ladder["low"]] == ["auto_decide", "hold"]
    assert d.ladder["low"][0].holds(wait_over_sla=False, depth=301)
    assert not d.ladder["low"][0].holds(wait_over_sla=True, depth=300)
    assert compiled.breaker.failures == 3 and compiled.breaker.psi_over == 0.2
    assert compiled.callbacks == (("crm", "https://crm.example/decisions"),)


@pytest.mark.parametrize(
    ("degradation", "field"),
    [
        (
            {"ladder": {"low": [{"action": "hold", "max_held": 5, "queue": "nowhere"}]}},
            "degradation.ladder.low[0].queue",
        ),
        (
            {"ladder": {"critical": [{"action": "auto_decide", "revocation_seconds": 60, "qa_rate": 1}]}},
            "degradation.ladder.critical[0].action",
        ),
        ({"ladder": {"critical": [{"action": "hold", "max_held": 5}]}}, "degradation.ladder.critical[0].action"),
        ({"ladder": {"medium": [{"action": "alert"}]}}, "degradation.ladder.medium"),
        ({"ladder": {"low": [{"action": "shed"}]}}, "degradation.ladder.low[0].action"),
        ({"ladder": {"low": [{"action": "hold"}]}}, "degradation.ladder.low[0].max_held"),
        ({"ladder": {"low": [{"action": "raise_qa", "rate": 1.5}]}}, "degradation.ladder.low[0].rate"),
        (
            {"ladder": {"low": [{"action": "raise_qa", "rate": 0.5, "max_held": 3}]}},
            "degradation.ladder.low[0].max_held",
        ),
        (
            {"ladder": {"low": [{"action": "alert", "when": {"depth_above": 3}}]}},
            "degradation.ladder.low[0].when.depth_above",
        ),
        ({"enter": {"wait_over_sla": 1.0}, "exit": {"wait_below_sla": 1.5}}, "degradation.exit.wait_below_sla"),
        ({"enter": {"depth_over": 10}, "exit": {"depth_below": 10}}, "degradation.exit.depth_below"),
        ({"enter": {}}, "degradation.enter"),
        ({"breaker": {"failures": 0}}, "degradation.breaker.failures"),
    ],
)
def test_bad_degradation_is_refused_naming_the_path(degradation, field):  # type: ignore[no-untyped-def]
    assert refused(spec(degradation=degradation)).field == field


@pytest.mark.parametrize("url", ["ftp://x.example/h", "x.example/h", "https://", "mailto:a@b.c"])
def test_a_callback_url_that_is_not_http_is_refused(url):  # type: ignore[no-untyped-def]
    error = refused(spec(callbacks=[{"name": "crm", "url": url}]))
    assert error.field == "callbacks[0].url"


def test_psi_is_small_for_the_same_distribution_and_large_for_a_shift():  # type: ignore[no-untyped-def]
    base = histogram([0.05 + 0.9 * i / 999 for i in range(1000)])
    same = histogram([0.05 + 0.9 * i / 499 for i in range(500)])
    shifted = histogram([0.3 + 0.1 * i / 499 for i in range(500)])
    assert psi(base, same) < 0.02
    assert psi(base, shifted) > 1.0
    assert sum(histogram([1.0, 0.0, 0.5])) == pytest.approx(1.0)

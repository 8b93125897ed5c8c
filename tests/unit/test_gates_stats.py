import pytest

from orchestrator.gates import parse_spec
from orchestrator.gates.stats import HistoryRow, backtest, calibration, wilson_upper, z_for

Z95 = z_for(0.95)


@pytest.mark.parametrize(
    ("errors", "n", "expected"),
    [
        (0, 100, Z95**2 / (100 + Z95**2)),  # closed form when nothing went wrong
        (1, 100, 0.04359),
        (3, 30, 0.22553),
        (0, 0, 1.0),
        (10, 10, 1.0),
    ],
)
def test_wilson_upper_bound(errors, n, expected):
    assert wilson_upper(errors, n, Z95) == pytest.approx(expected, abs=5e-5)


def history() -> list[tuple[float, bool]]:
    return (
        [(0.95, i != 0) for i in range(100)]
        + [(0.85, i >= 10) for i in range(100)]
        + [(0.55, i >= 40) for i in range(100)]
    )


def test_calibration_table_ece_brier_and_recommendation_have_known_answers():
    report = calibration(history(), bins=10, target_error=0.05, level=0.95, min_support=30)
    buckets = {(b["from"], b["to"]): b for b in report["buckets"]}
    assert buckets[(0.9, 1.0)]["count"] == 100
    assert buckets[(0.9, 1.0)]["agreement"] == pytest.approx(0.99)
    assert buckets[(0.8, 0.9)]["agreement"] == pytest.approx(0.90)
    assert buckets[(0.5, 0.6)]["mean_confidence"] == pytest.approx(0.55)
    assert buckets[(0.0, 0.1)] == {"from": 0.0, "to": 0.1, "count": 0, "mean_confidence": None, "agreement": None}
    assert report["ece"] == pytest.approx((0.04 + 0.05 + 0.05) / 3)
    assert report["brier"] == pytest.approx(34.65 / 300)
    rec = report["recommended"]
    assert (rec["threshold"], rec["count"], rec["errors"]) == (0.86, 100, 1)
    assert rec["upper"] == pytest.approx(0.04359, abs=5e-5)


def test_no_recommendation_when_no_threshold_is_safe_enough():
    assert calibration(history(), target_error=0.02)["recommended"] is None
    # too few samples to trust, however good they look
    assert calibration([(0.99, True)] * 10, target_error=0.5, min_support=30)["recommended"] is None


def test_backtest_counts_routes_queues_tiers_and_auto_decision_error():
    spec = parse_spec(
        {
            "queue": "general",
            "fields": {"payload.amount": "number"},
            "tiers": [{"name": "low"}, {"name": "high", "queue": "senior"}],
            "tier_rules": [{"tier": "high", "when": "payload.amount > 1000"}],
            "confidence_threshold": 0.8,
        }
    )
    rows = [
        # auto under the draft; people had approved 2 and rejected 1 of those they saw
        HistoryRow("a1", 0.9, {}, {"amount": 10}, {}, "review", "approved"),
        HistoryRow("a2", 0.85, {}, {"amount": 10}, {}, "review", "approved"),
        HistoryRow("a3", 0.82, {}, {"amount": 10}, {}, "review", "rejected"),
        HistoryRow("a4", 0.99, {}, {"amount": 10}, {}, "auto_approve", "approved"),
        # people under the draft
        HistoryRow("r1", 0.5, {}, {"amount": 10}, {}, "review", "rejected"),
        HistoryRow("r2", 0.5, {}, {"amount": 5000}, {}, "auto_approve", "approved"),
    ]
    report = backtest(spec, rows)
    assert report["decisions"] == 6
    assert report["routes"] == {"auto_approve": 4, "auto_reject": 0, "review": 2, "hold": 0}
    assert report["automation_rate"] == pytest.approx(4 / 6)
    assert report["review_volume"]["by_queue"] == {"general": 1, "senior": 1}
    assert report["review_volume"]["by_tier"] == {"high": 1, "low": 1}
    assert report["tiers"] == {"high": 1, "low": 5}
    assert report["changes"] == {"auto_to_review": 1, "review_to_auto": 3}
    auto = report["auto_decisions"]
    assert (auto["count"], auto["with_human_outcome"], auto["disagreements"]) == (4, 3, 1)
    assert auto["error_rate"] == pytest.approx(1 / 3)

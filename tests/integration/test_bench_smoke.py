"""Every benchmark area runs end to end on a tiny workload and ends with its JSON line.

Figures are not checked here (speed is a benchmark's business, not a test's); this keeps the
benchmarks from rotting as the schema and services change.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXPECTED = {
    "audit": {"append_per_s", "verify_1m_s", "export_rows_per_s", "export_peak_rss_mb", "copy_rows_per_s"},
    "decisions": {"decisions_per_s", "temporal_two_step_per_s", "ratio", "single_decision_p50_ms"},
    "gates": {"evals_per_s"},
    "queues": {"claims_per_s", "claim_p99_ms", "raw_claims_per_s", "ratio"},
    "ui": {"inbox_p99_ms", "board_p99_ms", "task_p99_ms"},
}

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("area", sorted(EXPECTED))
def test_benchmark_runs_and_reports(area, handrail_temporal_address):
    env = {**os.environ, "TEMPORAL_ADDRESS": handrail_temporal_address}
    done = subprocess.run(
        [sys.executable, "manage.py", "bench", area, "--scale", "0.002"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    assert [line for line in lines if line.startswith("{")] == [lines[-1]], "exactly one JSON line, the last"
    figures = json.loads(lines[-1])
    assert EXPECTED[area] <= set(figures), figures

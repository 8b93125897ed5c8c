"""The Temporal dev server and in-process worker the suite uses (they live in the package so flow
authors' tests, via `orchestrator.testing`, and the benchmarks use the same ones)."""

from orchestrator.temporal.devserver import TemporalDevServer, free_port, temporal_cli
from orchestrator.temporal.inprocess import WorkerThread

__all__ = ["TemporalDevServer", "WorkerThread", "free_port", "temporal_cli"]

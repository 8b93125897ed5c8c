"""Replay stored histories of real decision workflow runs against today's workflow code.

A change to a workflow that running decisions would replay differently (a new activity, timer or
order) must be guarded by `workflow.patched(...)` (docs/flows.md, "Changing a flow"). These tests fail
when it is not: every history under tests/histories/ must replay without a nondeterminism error.

Re-record the histories (after a deliberate, patched change, or to add a scenario) by running the
recorder explicitly (it is not part of the suite):

    pytest tests/histories/record.py

Recording needs Postgres and Temporal like the rest of the integration suite; replaying needs neither.
"""

import asyncio
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from tests.support.changed_workflows import PatchedChange, UnpatchedChange
from workflows.decision import DecisionWorkflow
from workflows.examples.kyc_onboarding import KycOnboardingWorkflow

HISTORIES = Path(__file__).resolve().parent.parent / "histories"


def stored() -> list[Path]:
    return sorted(HISTORIES.glob("*.json"))


def replay(path: Path, workflows: list[type]) -> None:
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    asyncio.run(Replayer(workflows=workflows).replay_workflow(history))


# --- replay (always) -------------------------------------------------------------------------------------


def test_histories_are_stored():
    names = {path.stem for path in stored()}
    assert {"auto_approve", "review", "escalation_timeout", "model_step", "kyc_multi_step"} <= names


@pytest.mark.parametrize("path", stored(), ids=lambda p: p.stem)
def test_stored_history_replays_on_todays_code(path):
    replay(path, [DecisionWorkflow, KycOnboardingWorkflow])


def test_an_unpatched_change_fails_replay_and_a_patched_one_does_not():
    review = HISTORIES / "review.json"
    with pytest.raises(Exception, match="[Nn]ondeterminism"):
        replay(review, [UnpatchedChange])
    replay(review, [PatchedChange])

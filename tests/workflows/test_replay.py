"""Replay recorded MigrateServer histories against today's workflow code.

A change of the workflow's shape (another activity, a reordered step, a
new timer) makes a replay fail with a non-determinism error: such a change
needs ``workflow.patched()`` or a new workflow type, not a silent edit.
Re-record with ``WATCHER_TEMPORAL_RECORD_HISTORIES=1 pytest tests/workflows``
only for deliberate, versioned changes.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from tests.workflows.standins import FORCE_COMPLETE_SERVER_ID, FORGED_PROGRESS_SERVER_ID, START_DEADLINE_SERVER_ID
from watcher_temporal.contract import migration_workflow_id
from watcher_temporal.workflows import ALL_WORKFLOWS

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


def test_histories_cover_every_ending() -> None:
    names = {path.stem for path in HISTORIES}
    assert names >= {
        "live_success",
        "skipped",
        "nova_failure_reverted",
        "revert_failed",
        "cancelled_reverted",
        "cold_scheduler_success",
    }


#: Histories recorded after CANONICAL_ID_PATCH replay under the id they ran with.
RECORDED_UNDER = {
    "force_complete_update": migration_workflow_id(FORCE_COMPLETE_SERVER_ID),
    "start_deadline_reverted": migration_workflow_id(START_DEADLINE_SERVER_ID),
    "forged_progress_ignored": migration_workflow_id(FORGED_PROGRESS_SERVER_ID),
}


def workflow_id_of(stem: str) -> str:
    """A canonical id for the replayed run (plans check theirs since CANONICAL_ID_PATCH)."""
    if stem in RECORDED_UNDER:
        return RECORDED_UNDER[stem]
    if stem.startswith("plan_"):
        return "plan-" + stem.removeprefix("plan_").replace("_", "-")
    return f"migrate-{stem}"


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_history_replays_without_nondeterminism(path: Path) -> None:
    history = WorkflowHistory.from_json(workflow_id_of(path.stem), path.read_text())
    replayer = Replayer(workflows=ALL_WORKFLOWS, data_converter=pydantic_data_converter)
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, result.replay_failure

"""Histories recorded on released workers replay on today's code without non-determinism.

``tests/upgrade/histories/<tag>/`` holds what ``python -m
tests.upgrade.record_release`` recorded from that release's own worker (real
activities, localnova, the dev server): every workflow type and ending, every
run of a plan that continued as new, and the children they started. A run
still open when its workers are upgraded replays exactly these events on the
new code; a change of workflow shape without ``workflow.patched`` fails here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from tests.upgrade.release import releases
from watcher_temporal.contract import WorkflowType
from watcher_temporal.workflows import ALL_WORKFLOWS

HISTORIES = Path(__file__).with_name("histories")
#: What every recorded release must cover (stem → workflow type).
REQUIRED = {
    "migrate_live": "MigrateServer",
    "migrate_cold": "MigrateServer",
    "migrate_skipped": "MigrateServer",
    "migrate_reverted": "MigrateServer",
    "migrate_cancelled": "MigrateServer",
    "migrate_force_completed": "MigrateServer",
    "plan_continue_as_new": "MaintenancePlan",
    "plan_continue_as_new_run2": "MaintenancePlan",
    "drain_host": "DrainHost",
    "undrain_host": "UndrainHost",
}


def manifest(tag: str) -> dict[str, Any]:
    return json.loads((HISTORIES / tag / "MANIFEST.json").read_text())


def recorded() -> list[tuple[str, str]]:
    return [(release.tag, stem) for release in releases() for stem in sorted(manifest(release.tag)["histories"])]


@pytest.mark.parametrize("tag", [r.tag for r in releases()])
def test_every_release_has_every_workflow_type_and_ending(tag: str) -> None:
    doc = manifest(tag)
    [release] = [r for r in releases() if r.tag == tag]
    assert doc["commit"] == release.commit
    histories = doc["histories"]
    assert {stem: histories[stem]["workflow_type"] for stem in REQUIRED if stem in histories} == REQUIRED
    endings = {stem: item["ending"] for stem, item in histories.items()}
    assert endings["migrate_reverted"] == "REVERTED"
    assert endings["migrate_cancelled"] == "CANCELLED"
    assert endings["migrate_force_completed"] == "SUCCEEDED (force-completed)"
    assert endings["plan_continue_as_new"] == "continued as new"
    # Type names never change: every type a release ran is still one today's worker registers.
    assert {item["workflow_type"] for item in histories.values()} <= set(WorkflowType)
    assert all((HISTORIES / tag / f"{stem}.json").is_file() for stem in histories)


@pytest.mark.parametrize(("tag", "stem"), recorded(), ids=[f"{t}-{s}" for t, s in recorded()])
async def test_release_history_replays_on_todays_code(tag: str, stem: str) -> None:
    item = manifest(tag)["histories"][stem]
    history = WorkflowHistory.from_json(item["workflow_id"], (HISTORIES / tag / f"{stem}.json").read_text())
    replayer = Replayer(workflows=ALL_WORKFLOWS, data_converter=pydantic_data_converter)
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, result.replay_failure

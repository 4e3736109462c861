"""``watcher-temporal set-limits``: usage errors before any connection, and refusals by Temporal's side.

The successful path (a running plan's limits lowered, then proven by Nova's
records) is ``tests/integration/test_plan_limits_integration.py``.
"""

from __future__ import annotations

import json
import uuid

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.realstack import RunningWorker
from tests.watcher_temporal.test_cli import cli
from watcher_temporal.cli import main
from watcher_temporal.cli.exit_codes import ExitCode


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["set-limits", "plan-x"], "give at least one of --max-parallel"),
        (["set-limits", "plan-x", "--max-parallel", "0"], "--max-parallel must be from 1 to 1000 (got 0)"),
        (["set-limits", "plan-x", "--max-parallel-per-source", "-1"], "must be from 0 to 1000 (got -1)"),
        (["set-limits", "plan-x", "--max-parallel-per-destination", "1001"], "must be from 0 to 1000 (got 1001)"),
    ],
)
def test_bad_options_exit_2_with_one_json_document(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main([*argv, "-o", "json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == ExitCode.USAGE and doc["exit_code"] == 2 and doc["outcome"] == "UsageError"
    assert message in doc["error"]["message"]


@pytest.mark.integration
async def test_only_running_plans_take_limits(dev_env: WorkflowEnvironment, worker: RunningWorker) -> None:
    unknown = await cli(dev_env, worker.task_queue, "set-limits", f"plan-{uuid.uuid4()}", "--max-parallel", "2")
    assert unknown.code == ExitCode.USAGE and "no workflow" in unknown.stderr
    handle = await dev_env.client.start_workflow(
        "MaintenancePlan",
        {"actions": [{"id": "n", "action_type": "nop"}]},
        id=f"plan-{uuid.uuid4()}",
        task_queue=worker.task_queue,
    )
    await handle.result()
    ended = await cli(dev_env, worker.task_queue, "set-limits", handle.id, "--max-parallel", "2", "-o", "json")
    assert ended.code == ExitCode.USAGE
    assert "is not running (COMPLETED); its limits no longer matter" in ended.json()["error"]["message"]

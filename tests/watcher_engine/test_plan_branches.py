"""MaintenancePlan's branches for Watcher (time-skipping server, stand-in activities).

The ``watcher`` failure policy lets the children of a FAILED action run (like
taskflow's ``ALWAYS`` decider); stop/shelve/delete/resize go to
``plan.server_action`` and every other Watcher type to ``plan.watcher_action``,
whose results (SUCCEEDED / SKIPPED / FAILED with a phase) become the action's
state; rollback calls their revert activities. Histories are recorded for replay.
"""

from __future__ import annotations

import uuid
from typing import Any

from temporalio import activity
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from tests.workflows.plan_standins import REVERTED, PlanRecorder, StandInMigrateServer
from tests.workflows.test_maintenance_plan import migrate
from tests.workflows.test_migrate_server import record
from watcher_temporal.contract import (
    ActionState,
    PlanActivity,
    PlanState,
    PlanStatus,
    RevertOutcome,
    ServerActionRequest,
    WatcherActionRequest,
    WatcherActionResult,
)
from watcher_temporal.workflows.maintenance_plan import MaintenancePlan

SERVER = "0b5b6c5a-9b8e-4f0a-8f4e-6f1d2b3c4d5e"


class StandInWatcherActivities:
    """``plan.server_action`` / ``plan.watcher_action`` and their reverts, scripted by action id."""

    def __init__(self, outcomes: dict[str, WatcherActionResult]) -> None:
        self.outcomes = outcomes
        self.ran: list[str] = []
        self.reverted: list[str] = []

    def all(self) -> list[Any]:
        return [self.server_action, self.server_revert, self.watcher_action, self.watcher_revert]

    def _ok(self, action_id: str) -> WatcherActionResult:
        self.ran.append(action_id)
        return self.outcomes.get(action_id, WatcherActionResult(state=ActionState.SUCCEEDED, phase="post_condition"))

    @activity.defn(name=PlanActivity.SERVER_ACTION.value)
    async def server_action(self, request: ServerActionRequest) -> WatcherActionResult:
        return self._ok(request.action_id)

    @activity.defn(name=PlanActivity.SERVER_ACTION_REVERT.value)
    async def server_revert(self, request: ServerActionRequest) -> WatcherActionResult:
        self.reverted.append(request.action_id)
        return WatcherActionResult(state=ActionState.SUCCEEDED, phase="revert", reason="started again")

    @activity.defn(name=PlanActivity.WATCHER_ACTION.value)
    async def watcher_action(self, request: WatcherActionRequest) -> WatcherActionResult:
        assert request.action_type == "volume_migrate"
        return self._ok(request.action_id)

    @activity.defn(name=PlanActivity.WATCHER_ACTION_REVERT.value)
    async def watcher_revert(self, request: WatcherActionRequest) -> WatcherActionResult:
        self.reverted.append(request.action_id)
        return WatcherActionResult(state=ActionState.FAILED, phase="revert", reason="cannot")


async def run_plan(
    env: WorkflowEnvironment, plan: dict[str, Any], acts: StandInWatcherActivities, rec: PlanRecorder
) -> tuple[PlanStatus, Any]:
    task_queue = f"tq-{uuid.uuid4()}"
    async with Worker(
        env.client,
        task_queue=task_queue,
        workflows=[MaintenancePlan, StandInMigrateServer],
        activities=[*rec.all(), *acts.all()],
    ):
        handle = await env.client.start_workflow(
            "MaintenancePlan", plan, id=f"plan-{uuid.uuid4()}", task_queue=task_queue, result_type=PlanStatus
        )
        return await handle.result(), handle


def server_action(action_id: str, kind: str, *parents: str, **params: Any) -> dict[str, Any]:
    return {
        "id": action_id,
        "action_type": kind,
        "input_parameters": {"resource_id": SERVER, **params},
        "parents": list(parents),
    }


async def test_watcher_policy_runs_the_children_of_a_failed_action(time_skipping_env: WorkflowEnvironment) -> None:
    rec = PlanRecorder()
    bad, child = rec.server(outcome=REVERTED), rec.server()
    failed = WatcherActionResult(state=ActionState.FAILED, phase="execute", reason="returned False")
    acts = StandInWatcherActivities({"stop": failed})
    plan = {
        "actions": [
            migrate("bad", bad, "h1", "h2"),
            migrate("child", child, "h1", "h2", "bad"),
            server_action("stop", "stop", "child"),
            server_action("resize", "resize", "stop", flavor="m1.small"),
            {
                "id": "volume",
                "action_type": "watcher_action",
                "input_parameters": {"action_type": "volume_migrate", "parameters": {"resource_id": "v1"}},
                "parents": ["resize"],
            },
        ],
        "on_failure": "watcher",
    }
    result, handle = await run_plan(time_skipping_env, plan, acts, rec)
    await record(handle, "plan_watcher_policy")

    by_id = {a.id: a for a in result.actions}
    assert result.state is PlanState.FAILED
    assert [by_id[a].state for a in ("bad", "child", "stop", "resize", "volume")] == [
        ActionState.FAILED,
        ActionState.SUCCEEDED,
        ActionState.FAILED,
        ActionState.SUCCEEDED,
        ActionState.SUCCEEDED,
    ]
    assert by_id["stop"].reason == "execute: returned False"
    assert acts.ran == ["stop", "resize", "volume"]


async def test_rollback_uses_watchers_reverts(time_skipping_env: WorkflowEnvironment) -> None:
    rec = PlanRecorder()
    bad = rec.server(outcome=REVERTED)
    acts = StandInWatcherActivities({})
    plan = {
        "actions": [
            server_action("stop", "stop"),
            {
                "id": "volume",
                "action_type": "watcher_action",
                "input_parameters": {"action_type": "volume_migrate", "parameters": {}},
                "parents": ["stop"],
            },
            migrate("bad", bad, "h1", "h2", "volume"),
        ],
        "on_failure": "rollback",
    }
    result, handle = await run_plan(time_skipping_env, plan, acts, rec)
    await record(handle, "plan_watcher_rollback")

    by_id = {a.id: a for a in result.actions}
    assert result.state is PlanState.FAILED
    assert acts.reverted == ["volume", "stop"]  # newest first
    assert (by_id["stop"].revert, by_id["volume"].revert) == (RevertOutcome.REVERTED, RevertOutcome.REVERT_FAILED)

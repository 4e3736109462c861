"""The generic path in the documented deployment: a standalone ``watcher-temporal-worker`` process.

The worker reads Watcher's configuration itself (``WATCHER_TEMPORAL_WATCHER_CONFIG``)
and runs Watcher's own action classes; each action must end as it does under
taskflow (Watcher's engine, run on the same plan in the same test).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from tests.watcher_engine.processes import StandaloneWorker
from tests.watcher_engine.watcher_stack import WatcherStack

pytestmark = pytest.mark.integration

HOST = "host3"


def generic_actions() -> list[dict[str, Any]]:
    """Action types the plan has no branch of its own for: Watcher's classes run them."""
    return [
        {
            "action_type": "volume_migrate",
            "input_parameters": {"resource_id": str(uuid.uuid4()), "migration_type": "migrate"},
        },
        {"action_type": "change_node_power_state", "input_parameters": {"resource_id": HOST, "state": "off"}},
        *(
            {
                "action_type": "change_nova_service_state",
                "input_parameters": {"resource_id": HOST, "resource_name": HOST, "state": state},
            }
            for state in ("up", "down")
        ),
    ]


def outcomes(stack: WatcherStack, plan_uuid: str) -> dict[tuple[str, str], tuple[str, str | None]]:
    """(action type, state parameter) → (state, status message)."""
    return {
        (a.action_type, str(a.input_parameters.get("state"))): (str(a.state), a.status_message)
        for a in stack.actions(plan_uuid)
    }


async def test_generic_actions_in_a_standalone_worker_end_as_under_taskflow(
    watcher_stack: WatcherStack, standalone_worker: StandaloneWorker, engine_option: Callable[..., None]
) -> None:
    engine_option("failure_policy", "watcher")  # taskflow runs every action whatever its parents did
    engine_option("task_queue", standalone_worker.task_queue)
    actions = generic_actions()
    on_temporal = watcher_stack.build_plan(actions)
    async with asyncio.timeout(180):
        await asyncio.to_thread(watcher_stack.run_plan, on_temporal)

    engine_option("workflow_engine", "taskflow", "watcher_applier")
    on_taskflow = watcher_stack.build_plan(actions)
    async with asyncio.timeout(180):
        await asyncio.to_thread(watcher_stack.run_plan, on_taskflow)

    expected = outcomes(watcher_stack, on_taskflow)
    assert expected[("volume_migrate", "None")][0] == "SKIPPED"  # what taskflow itself gives here
    assert outcomes(watcher_stack, on_temporal) == expected
    assert watcher_stack.plan(on_temporal).state == watcher_stack.plan(on_taskflow).state == "FAILED"
    assert "Backend already set" not in standalone_worker.log_text()

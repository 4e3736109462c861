"""The engine at the edges of a real deployment: bad options, no worker, a killed workflow.

Watcher's real ``DefaultActionPlanHandler`` runs each plan (as the applier
service does); every engine-side failure must put its cause in the plan's
``status_message`` (one bounded line) and leave no action PENDING or ONGOING.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable

import pytest
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from localnova.harness import LocalNovaHandle
from tests.conditions import until
from tests.realstack import boot_on, nova_migrations
from tests.watcher_engine.processes import free_port
from tests.watcher_engine.test_engine_applier import disable, events, host_of, migrate, run
from tests.watcher_engine.watcher_stack import WatcherStack

pytestmark = pytest.mark.integration

#: Longest status message the engine writes: Watcher's VARCHAR(255) column (PostgreSQL refuses more).
BOUNDED = 255


def open_actions(stack: WatcherStack, plan_uuid: str) -> list[str]:
    return [f"{a.action_type}:{a.state}" for a in stack.actions(plan_uuid) if a.state in ("PENDING", "ONGOING")]


def one_bounded_line(text: str | None) -> str:
    assert text, "the plan's status_message is empty"
    assert "\n" not in text and len(text) <= BOUNDED, text
    return text


@pytest.mark.parametrize(
    ("option", "value", "expected"),
    [
        ("address", "127.0.0.1:{port}", "cannot connect to Temporal at 127.0.0.1:{port}"),
        ("namespace", "no-such-namespace", "Namespace no-such-namespace is not found"),
        ("api_key_file", "/nonexistent/temporal-api-key", "api_key_file: cannot read /nonexistent/temporal-api-key"),
        # values oslo.config would refuse inside Watcher's loader, before any engine (a plan FAILED with no text)
        (
            "max_parallel",
            "lots",
            "bad configuration: [watcher_workflow_engines.temporal] max_parallel must be an integer",
        ),
        (
            "failure_policy",
            "sometimes",
            "failure_policy must be one of continue, stop, rollback, watcher, got 'sometimes'",
        ),
    ],
)
async def test_a_start_up_error_is_the_plans_status_message_and_closes_its_actions(
    watcher_stack: WatcherStack,
    clean_cloud: LocalNovaHandle,
    engine_option: Callable[..., None],
    option: str,
    value: str,
    expected: str,
) -> None:
    port = str(free_port())  # nothing listens there
    engine_option(option, value.format(port=port))
    server = boot_on(clean_cloud, "host1")
    plan = watcher_stack.build_plan([disable("host1"), migrate(server, "host2")])

    await run(watcher_stack, plan)

    row = watcher_stack.plan(plan)
    assert row.state == "FAILED"
    assert expected.format(port=port) in one_bounded_line(row.status_message)
    assert watcher_stack.action_states(plan) == {"CANCELLED": 2}
    assert all(
        a.status_message.startswith("Action was cancelled: temporal engine: ") for a in watcher_stack.actions(plan)
    )
    assert events(watcher_stack, plan)["action.cancel.end"] == 2
    assert host_of(clean_cloud, server) == "host1"


async def test_a_queue_without_worker_is_named_then_the_plan_and_its_workflow_fail(
    watcher_stack: WatcherStack,
    clean_cloud: LocalNovaHandle,
    engine_option: Callable[..., None],
    dev_env: WorkflowEnvironment,
) -> None:
    queue = f"nobody-{uuid.uuid4().hex[:6]}"
    engine_option("task_queue", queue)
    engine_option("no_worker_timeout", "8")
    server = boot_on(clean_cloud, "host1")
    plan = watcher_stack.build_plan([disable("host1"), migrate(server, "host2")])
    started = time.monotonic()
    running = asyncio.create_task(run(watcher_stack, plan))

    await until(
        lambda: f"no worker polls task queue {queue!r}" in (watcher_stack.plan(plan).status_message or ""),
        timeout=30,
        what="the plan's status message names the queue without worker",
    )
    named_after = time.monotonic() - started
    assert watcher_stack.plan(plan).state == "ONGOING"
    await running

    row = watcher_stack.plan(plan)
    assert row.state == "FAILED"
    assert f"no worker polled task queue {queue!r}" in one_bounded_line(row.status_message)
    assert "terminated" in row.status_message
    assert open_actions(watcher_stack, plan) == []
    assert watcher_stack.action_states(plan) == {"CANCELLED": 2}
    described = await dev_env.client.get_workflow_handle(f"plan-watcher-{plan}").describe()
    assert described.status is WorkflowExecutionStatus.TERMINATED  # nothing of it can run later
    assert nova_migrations(clean_cloud, server) == []
    print(f"queue named after {named_after:.1f} s")


async def test_a_terminated_workflow_leaves_no_action_open(
    watcher_stack: WatcherStack, clean_cloud: LocalNovaHandle, dev_env: WorkflowEnvironment
) -> None:
    cloud = clean_cloud
    servers = [boot_on(cloud, "host1") for _ in range(3)]
    cloud.configure(live_migration_seconds=30)
    plan = watcher_stack.build_plan([disable("host1"), *(migrate(s, "host2") for s in servers)])
    running = asyncio.create_task(run(watcher_stack, plan))
    await until(
        lambda: (
            watcher_stack.action_states(plan)["ONGOING"] >= 1
            and any(m.status == "running" for s in servers for m in nova_migrations(cloud, s))
        ),
        timeout=60,
        what="a live migration runs and the DB shows it ONGOING",
    )

    await dev_env.client.get_workflow_handle(f"plan-watcher-{plan}").terminate(reason="operator: stop it")
    await running

    row = watcher_stack.plan(plan)
    assert row.state == "FAILED"
    assert "was terminated: operator: stop it" in one_bounded_line(row.status_message)
    assert open_actions(watcher_stack, plan) == []
    states = {a.input_parameters.get("resource_id"): a for a in watcher_stack.actions(plan)}
    assert states["host1"].state == "SUCCEEDED"
    cut = [a for a in states.values() if a.state == "FAILED"]
    assert cut and all(a.status_message.startswith("Action failed in execute: temporal engine: ") for a in cut)
    assert all(a.state in ("FAILED", "CANCELLED") for a in states.values() if a.action_type == "migrate")
    await until(
        lambda: all(m.status != "running" for s in servers for m in nova_migrations(cloud, s)),
        timeout=60,
        what="Nova has no migration running any more",
    )
    assert [host_of(cloud, s) for s in servers] == ["host1"] * 3  # where the DB says: none moved

"""Watcher 17's real applier with ``workflow_engine = temporal``, end to end.

``DefaultActionPlanHandler`` (Watcher's own code) runs plans built by Watcher's
``WeightPlanner`` on PostgreSQL, with the ``fake:/`` transport and the ``test``
notifier; the engine runs them as ``MaintenancePlan`` workflows on the dev
server, whose worker moves servers in localnova. Nova's own API is the judge
of where servers are.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest

from localnova.harness import LocalNovaHandle
from tests.conditions import until
from tests.realstack import boot_on, nova_migrations
from tests.watcher_engine.watcher_stack import WatcherStack, kill_group

pytestmark = pytest.mark.integration


def disable(host: str) -> dict[str, Any]:
    return {
        "action_type": "change_nova_service_state",
        "input_parameters": {
            "resource_id": host,
            "resource_name": host,
            "state": "disabled",
            "disabled_reason": "watcher_maintaining",
        },
    }


def migrate(server_id: str, dest: str, kind: str = "live", source: str = "host1") -> dict[str, Any]:
    return {
        "action_type": "migrate",
        "input_parameters": {
            "resource_id": server_id,
            "migration_type": kind,
            "source_node": source,
            "destination_node": dest,
        },
    }


def events(stack: WatcherStack, plan_uuid: str) -> Counter[str]:
    """Notification event types about the plan and its actions."""
    ids = [a.uuid for a in stack.actions(plan_uuid)]
    return Counter(n["event_type"] for n in stack.notifications_of(plan_uuid, ids))


def host_of(cloud: LocalNovaHandle, server_id: str) -> str:
    return str(cloud.conn.compute.get_server(server_id).compute_host)


async def run(stack: WatcherStack, plan_uuid: str) -> None:
    async with asyncio.timeout(240):
        await asyncio.to_thread(stack.run_plan, plan_uuid)


async def test_host_maintenance_plan_runs_with_watchers_states_and_notifications(
    watcher_stack: WatcherStack, clean_cloud: LocalNovaHandle
) -> None:
    cloud = clean_cloud
    active, stopped = boot_on(cloud, "host1"), boot_on(cloud, "host1", stopped=True)
    cloud.configure(live_migration_seconds=1, cold_migration_seconds=1)
    plan = watcher_stack.build_plan(
        [disable("host1"), migrate(active, "host2"), migrate(stopped, "host2", kind="cold")]
    )
    by_type = {a.action_type: a for a in watcher_stack.actions(plan)}
    assert by_type["migrate"].parents == [by_type["change_nova_service_state"].uuid]  # Watcher's planner

    await run(watcher_stack, plan)

    assert watcher_stack.plan(plan).state == "SUCCEEDED"
    assert watcher_stack.action_states(plan) == {"SUCCEEDED": 3}
    assert (host_of(cloud, active), host_of(cloud, stopped)) == ("host2", "host2")
    assert cloud.conn.compute.get_server(stopped).status == "SHUTOFF"
    assert [len(nova_migrations(cloud, s)) for s in (active, stopped)] == [1, 1]
    [svc] = [s for s in cloud.conn.compute.services(binary="nova-compute") if s.host == "host1"]
    assert (svc.status, svc.disabled_reason) == ("disabled", "watcher_maintaining")
    seen = events(watcher_stack, plan)
    assert seen["action_plan.execution.start"] == 1 and seen["action_plan.execution.end"] == 1
    assert seen["action.execution.start"] == 3 and seen["action.execution.end"] == 3
    assert seen["action.update"] == 6  # PENDING → ONGOING → SUCCEEDED, each sent by Action.save()
    assert seen["action.execution.error"] == 0


async def test_failed_migration_stops_its_dependants_under_policy_stop(
    watcher_stack: WatcherStack, clean_cloud: LocalNovaHandle, failure_policy: Any
) -> None:
    cloud = clean_cloud
    failure_policy("stop")
    bad, good, later = (boot_on(cloud, "host1") for _ in range(3))
    cloud.configure(live_migration_seconds=0.5, live_migration_fail_hosts=["host3"])
    # WeightPlanner: disable → {bad, good} (one chunk of 2) → later
    plan = watcher_stack.build_plan(
        [disable("host1"), migrate(bad, "host3"), migrate(good, "host2"), migrate(later, "host2")]
    )

    await run(watcher_stack, plan)

    states = {a.input_parameters.get("resource_id"): a for a in watcher_stack.actions(plan)}
    assert watcher_stack.plan(plan).state == "FAILED"
    assert (states[bad].state, states[good].state, states[later].state) == ("FAILED", "SUCCEEDED", "CANCELLED")
    assert states[bad].status_message.startswith("Action failed in execute: ")
    assert (host_of(cloud, bad), host_of(cloud, good), host_of(cloud, later)) == ("host1", "host2", "host1")
    assert nova_migrations(cloud, later) == []
    seen = events(watcher_stack, plan)
    assert seen["action.execution.error"] == 1 and seen["action_plan.execution.error"] == 1
    assert seen["action.cancel.start"] == 1 and seen["action.cancel.end"] == 1


async def test_failed_migration_lets_its_children_run_under_policy_watcher(
    watcher_stack: WatcherStack, clean_cloud: LocalNovaHandle, failure_policy: Any
) -> None:
    cloud = clean_cloud
    failure_policy("watcher")
    bad, good, later = (boot_on(cloud, "host1") for _ in range(3))
    cloud.configure(live_migration_seconds=0.5, live_migration_fail_hosts=["host3"])
    plan = watcher_stack.build_plan(
        [disable("host1"), migrate(bad, "host3"), migrate(good, "host2"), migrate(later, "host2")]
    )

    await run(watcher_stack, plan)

    states = {a.input_parameters.get("resource_id"): a.state for a in watcher_stack.actions(plan)}
    assert watcher_stack.plan(plan).state == "FAILED"  # Watcher: any FAILED action fails the plan
    assert (states[bad], states[good], states[later]) == ("FAILED", "SUCCEEDED", "SUCCEEDED")
    assert host_of(cloud, later) == "host2"


async def test_cancel_is_seen_quickly_and_aborts_the_live_migration(
    watcher_stack: WatcherStack, clean_cloud: LocalNovaHandle
) -> None:
    cloud = clean_cloud
    server = boot_on(cloud, "host1")
    cloud.configure(live_migration_seconds=20)
    plan = watcher_stack.build_plan([migrate(server, "host2")])
    running = asyncio.create_task(run(watcher_stack, plan))

    await until(
        lambda: [m.status for m in nova_migrations(cloud, server)] == ["running"],
        timeout=60,
        what="Nova runs the live migration",
    )
    assert watcher_stack.actions(plan)[0].state == "ONGOING"
    before = len(watcher_stack.notifications())
    await asyncio.to_thread(watcher_stack.cancel, plan)
    await until(
        lambda: any(n["event_type"] == "action_plan.cancel.start" for n in watcher_stack.notifications()[before:]),
        timeout=2,
        what="the engine sees CANCELLING (action_plan.cancel.start) within 2 s",
    )
    await running

    assert watcher_stack.plan(plan).state == "CANCELLED"
    assert watcher_stack.actions(plan)[0].state == "CANCELLED"
    assert host_of(cloud, server) == "host1"  # aborted, not completed
    assert [m.status for m in nova_migrations(cloud, server)] == ["cancelled"]
    seen = events(watcher_stack, plan)
    assert seen["action_plan.cancel.end"] == 1
    assert (seen["action.cancel.start"], seen["action.cancel.end"]) == (1, 1)


async def test_other_action_types_run_with_watchers_own_classes(
    watcher_stack: WatcherStack, clean_cloud: LocalNovaHandle, failure_policy: Any
) -> None:
    cloud = clean_cloud
    failure_policy("watcher")
    to_stop, to_delete, stopped = (
        boot_on(cloud, "host1"),
        boot_on(cloud, "host1"),
        boot_on(cloud, "host1", stopped=True),
    )
    to_shelve, to_resize = boot_on(cloud, "host2"), boot_on(cloud, "host2")
    plan = watcher_stack.build_plan(
        [
            {"action_type": "nop", "input_parameters": {"message": "hello"}},
            {"action_type": "sleep", "input_parameters": {"duration": 0.1}},
            {"action_type": "stop", "input_parameters": {"resource_id": to_stop}},
            {"action_type": "stop", "input_parameters": {"resource_id": stopped}},  # SKIPPED: already SHUTOFF
            {"action_type": "delete", "input_parameters": {"resource_id": to_delete}},
            {"action_type": "shelve", "input_parameters": {"resource_id": to_shelve}},
            {"action_type": "resize", "input_parameters": {"resource_id": to_resize, "flavor": "m1.small"}},
            {"action_type": "resize", "input_parameters": {"resource_id": to_delete, "flavor": "m1.nope"}},
            # Watcher's own class knows "down"; its execute() refuses it: FAILED, through the generic path
            {
                "action_type": "change_nova_service_state",
                "input_parameters": {"resource_id": "host3", "resource_name": "host3", "state": "down"},
            },
        ]
    )

    await run(watcher_stack, plan)

    def state(kind: str, resource: str | None = None) -> str:
        [action] = [
            a
            for a in watcher_stack.actions(plan)
            if a.action_type == kind and (resource is None or a.input_parameters.get("resource_id") == resource)
        ]
        return str(action.state)

    assert (state("nop"), state("sleep")) == ("SUCCEEDED", "SUCCEEDED")
    assert (state("stop", to_stop), state("stop", stopped), state("delete")) == ("SUCCEEDED", "SKIPPED", "SUCCEEDED")
    assert (state("shelve"), state("resize", to_resize), state("resize", to_delete)) == (
        "SUCCEEDED",
        "SUCCEEDED",
        "SKIPPED",  # its server was deleted first (the planner runs delete before resize)
    )
    assert cloud.conn.compute.get_server(to_shelve).status in ("SHELVED", "SHELVED_OFFLOADED")
    resized = cloud.conn.compute.get_server(to_resize)
    assert (resized.status, resized.flavor.original_name) == ("ACTIVE", "m1.small")
    assert state("change_nova_service_state") == "FAILED"
    [cns] = [a for a in watcher_stack.actions(plan) if a.action_type == "change_nova_service_state"]
    assert cns.status_message == "Action failed in execute: The target state is not defined"
    assert cloud.conn.compute.get_server(to_stop).status == "SHUTOFF"
    assert cloud.conn.compute.find_server(to_delete) is None
    assert watcher_stack.plan(plan).state == "FAILED"
    seen = events(watcher_stack, plan)
    assert seen["action.execution.end"] == 6 and seen["action.execution.error"] == 1


async def test_a_restarted_applier_reattaches_and_the_plan_succeeds(
    watcher_stack: WatcherStack, clean_cloud: LocalNovaHandle
) -> None:
    cloud = clean_cloud
    servers = [boot_on(cloud, "host1") for _ in range(3)]
    cloud.configure(live_migration_seconds=4)
    plan = watcher_stack.build_plan([disable("host1"), *(migrate(s, "host2") for s in servers)])
    first = watcher_stack.applier_process("temporal", "run", plan)
    try:
        await until(
            lambda: any(m.status == "running" for s in servers for m in nova_migrations(cloud, s)),
            timeout=60,
            what="a live migration runs",
        )
        await until(
            lambda: watcher_stack.action_states(plan)["ONGOING"] >= 1, timeout=10, what="the DB shows it ONGOING"
        )
    finally:
        first.kill()  # SIGKILL: no clean-up in the applier
        first.wait(timeout=10)
    assert watcher_stack.plan(plan).state == "ONGOING"

    second = watcher_stack.applier_service()  # the shipped watcher-temporal-applier
    try:
        await until(
            lambda: watcher_stack.plan(plan).state != "ONGOING" or second.poll() is not None,
            timeout=180,
            what="the restarted applier follows the plan to its end",
        )
        assert second.poll() is None, f"watcher-temporal-applier exited; see {watcher_stack.config_file.parent}"
    finally:
        kill_group(second)  # oslo.service's graceful stop waits for its threads; nothing is left to finish

    assert watcher_stack.plan(plan).state == "SUCCEEDED"
    assert watcher_stack.action_states(plan) == {"SUCCEEDED": 4}
    assert [host_of(cloud, s) for s in servers] == ["host2"] * 3
    assert [len(nova_migrations(cloud, s)) for s in servers] == [1, 1, 1]  # nothing ran twice


async def test_an_action_skipped_by_hand_is_left_alone_and_its_children_run(
    watcher_stack: WatcherStack, clean_cloud: LocalNovaHandle
) -> None:
    cloud = clean_cloud
    kept, moved = boot_on(cloud, "host1"), boot_on(cloud, "host1")
    cloud.configure(live_migration_seconds=0.5)
    # WeightPlanner: nop → {kept, moved}; the operator skips the migration of ``kept``
    plan = watcher_stack.build_plan([{"action_type": "nop"}, migrate(kept, "host2"), migrate(moved, "host2")])
    [skipped] = [a for a in watcher_stack.actions(plan) if a.input_parameters.get("resource_id") == kept]
    watcher_stack.skip_by_hand(skipped.uuid)
    before = len(watcher_stack.notifications())

    await run(watcher_stack, plan)

    assert watcher_stack.plan(plan).state == "SUCCEEDED"
    assert watcher_stack.plan(plan).status_message == "One or more actions were skipped."
    assert watcher_stack.action_states(plan) == {"SUCCEEDED": 2, "SKIPPED": 1}
    assert (host_of(cloud, kept), host_of(cloud, moved)) == ("host1", "host2")
    assert nova_migrations(cloud, kept) == []
    about_skipped = [
        n
        for n in watcher_stack.notifications()[before:]
        if n["payload"].get("watcher_object.data", {}).get("uuid") == skipped.uuid
    ]
    assert about_skipped == []


async def test_rollback_puts_the_moved_server_and_the_service_back(
    watcher_stack: WatcherStack, clean_cloud: LocalNovaHandle, failure_policy: Any
) -> None:
    cloud = clean_cloud
    failure_policy("rollback")
    good, bad = boot_on(cloud, "host1"), boot_on(cloud, "host1")
    cloud.configure(live_migration_seconds=0.5, live_migration_fail_hosts=["host3"])
    plan = watcher_stack.build_plan([disable("host1"), migrate(good, "host2"), migrate(bad, "host3")])

    await run(watcher_stack, plan)

    actions = {a.input_parameters.get("resource_id"): a for a in watcher_stack.actions(plan)}
    assert watcher_stack.plan(plan).state == "FAILED"
    assert (actions[good].state, actions[bad].state) == ("SUCCEEDED", "FAILED")
    assert "rollback: reverted: moved back to host1" in actions[good].status_message
    assert "rollback: reverted" in actions["host1"].status_message
    assert (host_of(cloud, good), host_of(cloud, bad)) == ("host1", "host1")
    [svc] = [s for s in cloud.conn.compute.services(binary="nova-compute") if s.host == "host1"]
    assert svc.status == "enabled"

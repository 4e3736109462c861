"""The host_maintenance strategy (``build_drain_plan``), without Nova."""

from __future__ import annotations

import uuid

import pytest

from watcher_temporal.activities.drain import build_drain_plan
from watcher_temporal.activities.nova import ComputeService
from watcher_temporal.contract import ActionType, DrainRequest, ServerSnapshot, validate_plan
from watcher_temporal.errors import PreconditionFailed


def svc(host: str, *, enabled: bool = True, up: bool = True) -> ComputeService:
    return ComputeService(host=host, enabled=enabled, up=up, forced_down=False, disabled_reason=None)


SERVICES = [svc("host1"), svc("host2"), svc("host3", enabled=False)]


def vm(name: str, status: str = "ACTIVE", task_state: str | None = None) -> ServerSnapshot:
    return ServerSnapshot(id=str(uuid.uuid4()), name=name, status=status, host="host1", task_state=task_state)


def migrations(plan_actions: list) -> dict[str, dict]:
    return {
        a.input_parameters["resource_name"]: a.input_parameters
        for a in plan_actions
        if a.action_type is ActionType.MIGRATE
    }


def test_disables_the_host_then_moves_active_live_and_shutoff_cold() -> None:
    servers = [vm("a"), vm("b", "SHUTOFF"), vm("c", "PAUSED"), vm("d", task_state="image_snapshot")]
    drain = build_drain_plan(DrainRequest(host="host1", max_parallel=3), servers, SERVICES)
    first = drain.plan.actions[0]
    assert first.action_type is ActionType.CHANGE_NOVA_SERVICE_STATE
    assert first.input_parameters == {
        "resource_name": "host1",
        "state": "disabled",
        "disabled_reason": "watcher_maintaining",
    }
    moves = migrations(drain.plan.actions)
    assert {n: m["migration_type"] for n, m in moves.items()} == {"a": "live", "b": "cold"}
    assert all("destination_node" not in m and m["source_node"] == "host1" for m in moves.values())
    assert all(a.parents == [first.id] for a in drain.plan.actions[1:])
    assert {s.resource_name for s in drain.left_behind} == {"c", "d"}
    assert drain.plan.max_parallel == drain.plan.max_parallel_per_host == 3
    assert validate_plan(drain.plan.model_dump(mode="json")) == drain.plan


def test_a_disabled_backup_host_is_enabled_first_and_receives_every_server() -> None:
    drain = build_drain_plan(DrainRequest(host="host1", backup_host="host3"), [vm("a"), vm("b")], SERVICES)
    ids = [a.id for a in drain.plan.actions]
    assert ids[:2] == ["disable-host1", "enable-host3"]
    assert drain.plan.actions[1].input_parameters == {"resource_name": "host3", "state": "enabled"}
    for action in drain.plan.actions[2:]:
        assert action.input_parameters["destination_node"] == "host3"
        assert action.parents == ["disable-host1", "enable-host3"]


def test_an_enabled_backup_host_needs_no_action() -> None:
    drain = build_drain_plan(DrainRequest(host="host1", backup_host="host2"), [vm("a")], SERVICES)
    assert [a.action_type for a in drain.plan.actions] == [ActionType.CHANGE_NOVA_SERVICE_STATE, ActionType.MIGRATE]


def test_forbidden_live_migration_moves_active_servers_cold() -> None:
    drain = build_drain_plan(DrainRequest(host="host1", allow_live=False), [vm("a"), vm("b", "SHUTOFF")], SERVICES)
    assert {n: m["migration_type"] for n, m in migrations(drain.plan.actions).items()} == {"a": "cold", "b": "cold"}


def test_forbidden_cold_migration_leaves_shutoff_servers_behind() -> None:
    drain = build_drain_plan(DrainRequest(host="host1", allow_cold=False), [vm("a"), vm("b", "SHUTOFF")], SERVICES)
    assert set(migrations(drain.plan.actions)) == {"a"}
    assert [(s.resource_name, "forbidden" in s.reason) for s in drain.left_behind] == [("b", True)]


def test_an_empty_host_still_gets_disabled() -> None:
    drain = build_drain_plan(DrainRequest(host="host1"), [], SERVICES)
    assert [a.id for a in drain.plan.actions] == ["disable-host1"]


@pytest.mark.parametrize(
    ("request_", "services", "message"),
    [
        (DrainRequest(host="host9"), SERVICES, "'host9' is not a nova-compute host"),
        (DrainRequest(host="host1", backup_host="host9"), SERVICES, "backup host 'host9' is not"),
        (DrainRequest(host="host1", backup_host="host1"), SERVICES, "must differ"),
        (DrainRequest(host="host1", backup_host="host2"), [svc("host1"), svc("host2", up=False)], "down"),
    ],
)
def test_bad_hosts_are_refused(request_: DrainRequest, services: list[ComputeService], message: str) -> None:
    with pytest.raises(PreconditionFailed, match=message):
        build_drain_plan(request_, [vm("a")], services)

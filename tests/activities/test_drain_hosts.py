"""``drain-hosts``: one plan for a set of hosts (``build_drain_hosts_plan``), without Nova."""

from __future__ import annotations

import uuid

import pytest

from watcher_temporal.activities.drain_hosts import build_drain_hosts_plan, sizes_of
from watcher_temporal.activities.nova import ComputeService, DrainServer, HostCapacity, ServerGroupFacts
from watcher_temporal.contract import ActionType, ServerSize, ServerSnapshot, validate_plan
from watcher_temporal.contract.drain_hosts import DrainHostsRequest
from watcher_temporal.contract.names import drain_hosts_workflow_id
from watcher_temporal.errors import PreconditionFailed


def svc(host: str, *, enabled: bool = True) -> ComputeService:
    return ComputeService(host=host, enabled=enabled, up=True, forced_down=False, disabled_reason=None)


SERVICES = [svc("h1"), svc("h2"), svc("h3"), svc("h4"), svc("h5", enabled=False)]


def server(host: str, name: str, *, ram: int = 2048, disk: int = 20, status: str = "ACTIVE") -> DrainServer:
    snapshot = ServerSnapshot(id=str(uuid.uuid4()), name=name, status=status, host=host)
    return DrainServer(server=snapshot, resources={"VCPU": 1, "MEMORY_MB": ram, "DISK_GB": disk})


def cap(host: str, ram: float) -> HostCapacity:
    return HostCapacity(host=host, free={"VCPU": 100.0, "MEMORY_MB": ram, "DISK_GB": 1000.0})


def test_every_host_is_disabled_before_any_server_of_the_set_moves() -> None:
    servers = {"h1": [server("h1", "a"), server("h1", "b", status="SHUTOFF")], "h2": [server("h2", "c")]}
    built = build_drain_hosts_plan(DrainHostsRequest(hosts=["h1", "h2"]), servers, SERVICES)
    actions = built.plan.actions
    assert [a.id for a in actions[:2]] == ["disable-h1", "disable-h2"]
    assert {a.input_parameters["disabled_reason"] for a in actions[:2]} == {"watcher_maintaining by drain-hosts-h1+h2"}
    moves = [a for a in actions if a.action_type is ActionType.MIGRATE]
    assert len(moves) == 3 and all(a.parents == ["disable-h1", "disable-h2"] for a in moves)
    assert {a.input_parameters["migration_type"] for a in moves} == {"live", "cold"}
    assert all("destination_node" not in a.input_parameters for a in moves)  # disabled hosts: never chosen
    assert built.destinations == ["h3", "h4"]
    # One slot per source by default: hosts x per-source.
    assert (built.plan.max_parallel, built.plan.max_parallel_per_source) == (2, 1)
    assert validate_plan(built.plan.model_dump(mode="json")) == built.plan


def test_the_plan_carries_every_moving_servers_size() -> None:
    big, small = server("h1", "big", ram=16384, disk=160), server("h2", "small", ram=512, disk=1)
    built = build_drain_hosts_plan(DrainHostsRequest(hosts=["h1", "h2"]), {"h1": [big], "h2": [small]}, SERVICES)
    assert built.plan.server_sizes == {
        big.server.id: ServerSize(memory_mib=16384, disk_gib=160),
        small.server.id: ServerSize(memory_mib=512, disk_gib=1),
    }


def test_capacity_is_checked_against_the_hosts_outside_the_set_only() -> None:
    servers = {"h1": [server("h1", "a", ram=4000)], "h2": [server("h2", "b", ram=4000)]}
    request = DrainHostsRequest(hosts=["h1", "h2"])
    # h3 and h4 have room for one each: fits.
    fits = build_drain_hosts_plan(request, servers, SERVICES, capacities=[cap("h3", 5000), cap("h4", 5000)])
    assert len([a for a in fits.plan.actions if a.action_type is ActionType.MIGRATE]) == 2
    # Only h3 has room for one: the second server does not fit, whatever room h1/h2 have.
    with pytest.raises(PreconditionFailed, match=r"1 of 2 servers do not fit .*\(h3, h4\)"):
        build_drain_hosts_plan(request, servers, SERVICES, capacities=[cap("h3", 5000), cap("h4", 1000)])


def test_anti_affinity_holds_across_the_set() -> None:
    a, b, c = server("h1", "a"), server("h2", "b"), server("h2", "c")
    hard = ServerGroupFacts(
        id=str(uuid.uuid4()), name="g", policy="anti-affinity", member_hosts={a.server.id: "h1", b.server.id: "h2"}
    )
    request = DrainHostsRequest(hosts=["h1", "h2"])
    built = build_drain_hosts_plan(
        request, {"h1": [a], "h2": [b, c]}, SERVICES, capacities=[cap("h3", 99999), cap("h4", 99999)], groups=[hard]
    )
    # Members on two different hosts of the set never move at the same time.
    assert (
        built.exclusive_groups
        == {f"server-group-{hard.id}": [f"migrate-{a.server.id}", f"migrate-{b.server.id}"]}
        == built.plan.exclusive_groups
    )
    # Two members need two distinct hosts outside the set: with only h3 left, refused.
    with pytest.raises(PreconditionFailed, match="do not fit"):
        build_drain_hosts_plan(
            request,
            {"h1": [a], "h2": [b, c]},
            [svc("h1"), svc("h2"), svc("h3")],
            capacities=[cap("h3", 99999)],
            groups=[hard],
        )


def test_unknown_hosts_and_a_set_with_no_host_left_outside_are_refused() -> None:
    with pytest.raises(PreconditionFailed, match=r"not a nova-compute host of this cloud: nope, gone"):
        build_drain_hosts_plan(DrainHostsRequest(hosts=["h1", "nope", "gone"]), {}, SERVICES)
    with pytest.raises(PreconditionFailed, match="no enabled, up compute host is left outside"):
        build_drain_hosts_plan(DrainHostsRequest(hosts=["h1", "h2", "h3", "h4"]), {}, SERVICES)


def test_a_host_given_twice_is_refused_and_the_id_names_the_set() -> None:
    with pytest.raises(ValueError, match="each host at most once"):
        DrainHostsRequest(hosts=["h1", "h2", "h1"])
    assert drain_hosts_workflow_id(["h3", "h1", "h2"]) == "drain-hosts-h1+h2+h3"
    long_id = drain_hosts_workflow_id([f"compute-{i:03d}.rack7.example.org" for i in range(40)])
    assert len(long_id) < 240 and long_id.startswith("drain-hosts-compute-000")


def test_sizes_are_read_from_the_source_hosts_listing() -> None:
    a, b = server("h1", "a", ram=1024, disk=10), server("h2", "b")
    result = sizes_of({a.server.id: "h1", b.server.id: "h1", "gone": "h1"}, {"h1": [a], "h2": [b]})
    assert result.sizes == {a.server.id: ServerSize(memory_mib=1024, disk_gib=10)}
    assert result.missing == 2  # b is not on h1 any more; "gone" is nowhere

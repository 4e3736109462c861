"""The undrain strategy (``build_undrain_plan``), without Nova or Temporal."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from watcher_temporal.activities.nova import ComputeService, MigrationRecord
from watcher_temporal.activities.undrain import as_host_drain, build_undrain_plan, drain_of
from watcher_temporal.contract import (
    ActionState,
    ActionStatus,
    ActionType,
    DrainResult,
    MaintenancePlanInput,
    OnFailure,
    PlanAction,
    PlanState,
    PlanStatus,
    ServerSnapshot,
    UndrainRequest,
    count_states,
)
from watcher_temporal.contract.drain_hosts import DrainHostsResult

A, B, C = (str(uuid.uuid4()) for _ in range(3))


#: What drain-host1 writes when it disables host1.
DRAIN_REASON = "watcher_maintaining by drain-host1"


def svc(*, enabled: bool = False, reason: str | None = DRAIN_REASON) -> ComputeService:
    return ComputeService(host="host1", enabled=enabled, up=True, forced_down=False, disabled_reason=reason)


def drain(states: dict[str, ActionState], *, disable: bool = True, reason: str = DRAIN_REASON) -> DrainResult:
    actions = []
    if disable:
        actions.append(
            PlanAction(
                id="disable-host1",
                action_type=ActionType.CHANGE_NOVA_SERVICE_STATE,
                input_parameters={"resource_name": "host1", "state": "disabled", "disabled_reason": reason},
            )
        )
    for server, how in ((A, "live"), (B, "cold"), (C, "live")):
        actions.append(
            PlanAction(
                id=f"migrate-{server}",
                action_type=ActionType.MIGRATE,
                input_parameters={"resource_id": server, "migration_type": how, "source_node": "host1"},
            )
        )
    statuses = [
        ActionStatus(id=a.id, action_type=a.action_type, state=states.get(a.id, ActionState.SUCCEEDED)) for a in actions
    ]
    status = PlanStatus(
        state=PlanState.SUCCEEDED,
        counts=count_states(statuses),
        actions=statuses,
        max_parallel=4,
        max_parallel_per_host=4,
        on_failure=OnFailure.STOP,
        started_at=datetime.now(UTC),
    )
    return DrainResult(host="host1", plan=MaintenancePlanInput(actions=actions), status=status)


def moved(server: str, now_on: str, *, put_on: str | None = None, status: str = "ACTIVE", how: str = "live"):
    record = MigrationRecord(
        id="7",
        status="completed" if how == "live" else "confirmed",
        migration_type="live-migration" if how == "live" else "migration",
        source_compute="host1",
        dest_compute=put_on or now_on,
    )
    return ServerSnapshot(id=server, status=status, host=now_on), [record]


def test_the_host_the_drain_disabled_is_enabled_then_the_servers_move_back_the_way_they_left() -> None:
    servers = {A: moved(A, "host2"), B: moved(B, "host3", status="SHUTOFF", how="cold"), C: moved(C, "host2")}
    plan = build_undrain_plan(
        UndrainRequest(host="host1", move_back=True), drain=drain({}), service=svc(), servers=servers
    )
    assert plan.enables and DRAIN_REASON in plan.enable_reason
    assert plan.plan is not None
    first, *moves = plan.plan.actions
    assert (first.id, first.input_parameters) == ("enable-host1", {"resource_name": "host1", "state": "enabled"})
    assert [(m.input_parameters["resource_id"], m.input_parameters["migration_type"]) for m in moves] == [
        (A, "live"),
        (B, "cold"),
        (C, "live"),
    ]
    assert all(m.parents == ["enable-host1"] and m.input_parameters["destination_node"] == "host1" for m in moves)
    assert [m.input_parameters["source_node"] for m in moves] == ["host2", "host3", "host2"]


def test_only_servers_still_where_the_drain_put_them_move_back() -> None:
    servers = {
        A: moved(A, "host3", put_on="host2"),
        B: (None, []),
        C: moved(C, "host2", status="SHUTOFF"),
    }
    states = {f"migrate-{B}": ActionState.SUCCEEDED}
    plan = build_undrain_plan(
        UndrainRequest(host="host1", move_back=True), drain=drain(states), service=svc(), servers=servers
    )
    assert plan.plan is not None and [a.id for a in plan.plan.actions] == ["enable-host1"]
    reasons = {s.resource_id: s.reason for s in plan.left_behind}
    assert "the drain put it on host2, it is on host3" in reasons[A]
    assert reasons[B] == "deleted since the drain"
    assert "cannot move a SHUTOFF server" in reasons[C]


def test_a_migration_the_drain_did_not_complete_is_not_moved_back() -> None:
    states = {f"migrate-{A}": ActionState.FAILED, f"migrate-{B}": ActionState.CANCELLED}
    servers = {C: moved(C, "host2")}
    plan = build_undrain_plan(
        UndrainRequest(host="host1", move_back=True), drain=drain(states), service=svc(), servers=servers
    )
    assert plan.plan is not None
    assert [a.id for a in plan.plan.actions] == ["enable-host1", f"migrate-{C}"]


def test_a_host_someone_else_disabled_stays_disabled_and_nothing_moves_back() -> None:
    servers = {A: moved(A, "host2"), B: moved(B, "host3", how="cold"), C: moved(C, "host2")}
    plan = build_undrain_plan(
        UndrainRequest(host="host1", move_back=True),
        drain=drain({}),
        service=svc(reason="disk failure"),
        servers=servers,
    )
    assert not plan.enables and "someone disabled it since" in plan.enable_reason
    assert plan.plan is None
    assert [s.resource_id for s in plan.left_behind] == [A, B, C]
    assert all("host1 stays disabled (disabled_reason is now 'disk failure'" in s.reason for s in plan.left_behind)


def test_a_host_a_plan_disabled_with_watcher_s_own_reason_after_the_drain_stays_disabled() -> None:
    # drain-host1 disabled host1 (and was undrained); then plan-maint-42 disabled it with
    # Watcher's plain reason. The drain's record alone would say "mine": the reason says not.
    plan = build_undrain_plan(
        UndrainRequest(host="host1", move_back=True),
        drain=drain({}),
        service=svc(reason="watcher_maintaining"),
        servers={A: moved(A, "host2")},
    )
    assert not plan.enables and plan.plan is None
    assert "'watcher_maintaining', not 'watcher_maintaining by drain-host1'" in plan.enable_reason


def test_a_drain_whose_reason_does_not_name_it_never_enables_the_host() -> None:
    plan = build_undrain_plan(
        UndrainRequest(host="host1"),
        drain=drain({}, reason="watcher_maintaining"),
        service=svc(reason="watcher_maintaining"),
        servers={},
    )
    assert not plan.enables and plan.plan is None
    assert "does not name drain-host1" in plan.enable_reason and "by hand" in plan.enable_reason


def test_no_enable_unless_the_drain_s_disable_action_succeeded() -> None:
    skipped = build_undrain_plan(
        UndrainRequest(host="host1"),
        drain=drain({"disable-host1": ActionState.SKIPPED}),
        service=svc(),
        servers={},
    )
    assert not skipped.enables and "is SKIPPED" in skipped.enable_reason
    partial = build_undrain_plan(
        UndrainRequest(host="host1"), drain=drain({}, disable=False), service=svc(), servers={}
    )
    assert not partial.enables and "did not disable" in partial.enable_reason
    missing = build_undrain_plan(
        UndrainRequest(host="host1"), drain=None, missing="no drain-host1 workflow is known", service=svc(), servers={}
    )
    assert not missing.enables and missing.enable_reason.startswith("no drain-host1 workflow is known")
    enabled = build_undrain_plan(UndrainRequest(host="host1"), drain=drain({}), service=svc(enabled=True), servers={})
    assert not enabled.enables and "already enabled" in enabled.enable_reason and enabled.plan is None


def test_an_enabled_host_takes_its_servers_back_without_an_enable_action() -> None:
    plan = build_undrain_plan(
        UndrainRequest(host="host1", move_back=True),
        drain=drain({f"migrate-{B}": ActionState.FAILED, f"migrate-{C}": ActionState.FAILED}),
        service=svc(enabled=True, reason=None),
        servers={A: moved(A, "host2")},
    )
    assert plan.plan is not None
    assert [(a.id, a.parents) for a in plan.plan.actions] == [(f"migrate-{A}", [])]


#: What drain-hosts of host1 and host2 writes on both hosts.
SET_REASON = "watcher_maintaining by drain-hosts-host1+host2"


def set_drain() -> DrainHostsResult:
    """A completed drain-hosts of host1 (servers A, B) and host2 (server C)."""
    actions = [
        PlanAction(
            id=f"disable-{host}",
            action_type=ActionType.CHANGE_NOVA_SERVICE_STATE,
            input_parameters={"resource_name": host, "state": "disabled", "disabled_reason": SET_REASON},
        )
        for host in ("host1", "host2")
    ]
    for server, source in ((A, "host1"), (B, "host1"), (C, "host2")):
        actions.append(
            PlanAction(
                id=f"migrate-{server}",
                action_type=ActionType.MIGRATE,
                input_parameters={"resource_id": server, "migration_type": "live", "source_node": source},
                parents=["disable-host1", "disable-host2"],
            )
        )
    statuses = [ActionStatus(id=a.id, action_type=a.action_type, state=ActionState.SUCCEEDED) for a in actions]
    status = PlanStatus(
        state=PlanState.SUCCEEDED,
        counts=count_states(statuses),
        actions=statuses,
        max_parallel=2,
        max_parallel_per_host=2,
        on_failure=OnFailure.STOP,
        started_at=datetime.now(UTC),
    )
    return DrainHostsResult(hosts=["host1", "host2"], plan=MaintenancePlanInput(actions=actions), status=status)


def test_a_host_a_drain_hosts_disabled_is_undrained_from_its_part_of_that_drain() -> None:
    assert drain_of("host1", SET_REASON) == "drain-hosts-host1+host2"
    assert drain_of("host1", DRAIN_REASON) == "drain-host1"
    assert drain_of("host1", "someone else") == "drain-host1"
    part = as_host_drain(set_drain(), "host1")
    assert [a.id for a in part.plan.actions] == ["disable-host1", f"migrate-{A}", f"migrate-{B}"]
    assert part.status is not None and [a.id for a in part.status.actions] == [a.id for a in part.plan.actions]

    plan = build_undrain_plan(
        UndrainRequest(host="host1", move_back=True),
        drain=part,
        service=svc(reason=SET_REASON),
        servers={A: moved(A, "host3"), B: moved(B, "host4")},
    )

    assert plan.enables, plan.enable_reason
    assert plan.plan is not None
    assert [a.id for a in plan.plan.actions] == ["enable-host1", f"migrate-{A}", f"migrate-{B}"]  # not C (host2's)


def test_a_host_disabled_since_the_drain_hosts_stays_disabled() -> None:
    part = as_host_drain(set_drain(), "host1")
    plan = build_undrain_plan(
        UndrainRequest(host="host1"), drain=part, service=svc(reason="watcher_maintaining"), servers={}
    )
    assert not plan.enables  # the reason no longer names the set's drain: not proven ours
    assert "enable the host by hand" in plan.enable_reason

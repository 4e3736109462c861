"""Safe drains and undrain end to end: Temporal dev server, real worker, real Nova 34 + placement.

Capacity refusal with zero Nova writes, anti-affinity members moved one at a
time (Nova's migration records), maintenance policy metadata, partial drains,
and undrain (move back, re-enable; refusing a host someone else disabled).
Every assertion about Nova reads Nova's API, not the workflows' own account.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from localnova.harness import DEFAULT_IMAGE, LocalNovaHandle
from tests.conditions import until
from tests.integration.test_maintenance_plan_integration import cli_env, placement, service_of
from tests.realstack import RunningWorker, boot_on, nova_migrations
from watcher_temporal.activities.nova import MAINTENANCE_POLICY_KEY
from watcher_temporal.cli import undrain_host
from watcher_temporal.contract import (
    STATUS_QUERY,
    ActionState,
    DrainRequest,
    DrainResult,
    PlanState,
    PlanStatus,
    UndrainRequest,
    UndrainResult,
    WorkflowType,
    drain_workflow_id,
    undrain_workflow_id,
)

pytestmark = pytest.mark.integration

#: Half of a localnova host's memory (FakeDriver: 800,000 MB, 512 reserved, ratio 1.0).
HUGE_RAM_MB = 500_000
WRITES = ("POST", "PUT", "PATCH", "DELETE")


@pytest.fixture
def cloud(localnova: LocalNovaHandle) -> Iterator[LocalNovaHandle]:
    """No servers, every compute service enabled, no server group, before and after."""

    def reset() -> None:
        localnova.delete_all_servers()
        for svc in localnova.conn.compute.services(binary="nova-compute"):
            if svc.status != "enabled":
                localnova.conn.compute.enable_service(svc, host=svc.host, binary="nova-compute")
        for group in localnova.conn.compute.server_groups(all_projects=True):
            localnova.conn.compute.delete_server_group(group)

    reset()
    yield localnova
    reset()


def boot(
    cloud: LocalNovaHandle,
    host: str,
    *,
    flavor: str = "1",
    metadata: dict[str, str] | None = None,
    group: str | None = None,
    name: str | None = None,
) -> str:
    """Boot one server on ``host`` (with metadata / in a server group when asked); wait ACTIVE."""
    server = cloud.conn.compute.create_server(
        name=name or f"it-{uuid.uuid4().hex[:6]}",
        image_id=DEFAULT_IMAGE,
        flavor_id=flavor,
        networks="none",
        availability_zone=f"nova:{host}",
        metadata=metadata or {},
        **({"scheduler_hints": {"group": group}} if group else {}),
    )
    cloud.wait_server(server.id, "ACTIVE")
    return str(server.id)


async def run_drain(dev_env: WorkflowEnvironment, worker: RunningWorker, request: DrainRequest) -> DrainResult:
    request = request.model_copy(update={"poll_interval_seconds": 0.5, "timeout_seconds": 120})
    async with asyncio.timeout(300):
        return await dev_env.client.execute_workflow(
            WorkflowType.DRAIN_HOST.value,
            request,
            id=drain_workflow_id(request.host),
            task_queue=worker.task_queue,
            result_type=DrainResult,
        )


async def run_undrain(dev_env: WorkflowEnvironment, worker: RunningWorker, request: UndrainRequest) -> UndrainResult:
    async with asyncio.timeout(300):
        return await dev_env.client.execute_workflow(
            WorkflowType.UNDRAIN_HOST.value,
            request,
            id=undrain_workflow_id(request.host),
            task_queue=worker.task_queue,
            result_type=UndrainResult,
        )


def nova_time(value: str) -> datetime:
    return datetime.fromisoformat(value.removesuffix("Z"))


async def test_servers_that_do_not_fit_are_refused_before_any_nova_write(
    dev_env: WorkflowEnvironment, worker: RunningWorker, cloud: LocalNovaHandle
) -> None:
    flavor = cloud.conn.compute.create_flavor(name=f"it-huge-{uuid.uuid4().hex[:6]}", ram=HUGE_RAM_MB, vcpus=1, disk=1)
    try:
        small = boot(cloud, "host1")
        huge = boot(cloud, "host1", flavor=flavor.id, name="huge-on-host1")
        boot(cloud, "host2", flavor=flavor.id)
        boot(cloud, "host3", flavor=flavor.id)
        cloud.reset_stats()

        with pytest.raises(WorkflowFailureError) as failure:
            await run_drain(dev_env, worker, DrainRequest(host="host1"))

        cause = failure.value.cause
        assert isinstance(cause, ApplicationError) and cause.type == "PreconditionFailed"
        assert "1 of 2 servers do not fit" in cause.message and f"{huge} (huge-on-host1)" in cause.message
        assert small not in cause.message
        stats = cloud.stats()
        assert not [m for m in stats["by_method"] if m in WRITES], stats["by_path_template"]
        assert stats["by_path_template"].get("GET /placement/resource_providers/{id}/usages") == 2  # host2, host3
        assert service_of(cloud, "host1") == ("enabled", None)
        assert {h for h, _ in placement(cloud, [small, huge]).values()} == {"host1"}
        assert nova_migrations(cloud, huge) == [] and nova_migrations(cloud, small) == []
    finally:
        cloud.delete_all_servers()
        cloud.conn.compute.delete_flavor(flavor)


async def test_members_of_an_anti_affinity_group_are_drained_one_at_a_time(
    dev_env: WorkflowEnvironment, worker: RunningWorker, cloud: LocalNovaHandle
) -> None:
    group = cloud.conn.compute.create_server_group(name="it-spread", policy="soft-anti-affinity")
    members = [boot(cloud, "host1", group=group.id) for _ in range(3)]
    loner = boot(cloud, "host1")
    cloud.configure(live_migration_seconds=1.5)

    result = await run_drain(dev_env, worker, DrainRequest(host="host1", max_parallel=4))

    assert result.status is not None and result.status.state is PlanState.SUCCEEDED
    in_plan_order = [f"migrate-{m}" for m in sorted_by_name(result, members)]
    assert result.exclusive_groups == {f"server-group-{group.id}": in_plan_order}
    windows = []
    for member in members:
        [record] = [m for m in nova_migrations(cloud, member) if m.migration_type == "live-migration"]
        assert record.status == "completed"
        windows.append((nova_time(record.created_at), nova_time(record.updated_at)))
    windows.sort()
    for (_, first_end), (second_start, _) in itertools.pairwise(windows):
        assert second_start >= first_end, windows  # never two members' migrations at once
    where = placement(cloud, [*members, loner])
    assert all(host != "host1" and status == "ACTIVE" for host, status in where.values()), where
    # Each move saw the previous ones: soft anti-affinity spread the members over both hosts left.
    assert {where[m][0] for m in members} == {"host2", "host3"}


def sorted_by_name(result: DrainResult, ids: list[str]) -> list[str]:
    """The member ids in the plan's order (servers are planned by name)."""
    order = [a.input_parameters["resource_id"] for a in result.plan.actions if a.action_type.value == "migrate"]
    return sorted(ids, key=order.index)


async def test_maintenance_policies_and_a_partial_drain(
    dev_env: WorkflowEnvironment, worker: RunningWorker, cloud: LocalNovaHandle
) -> None:
    cold = boot(cloud, "host1", metadata={MAINTENANCE_POLICY_KEY: "cold"})
    skip = boot(cloud, "host1", metadata={MAINTENANCE_POLICY_KEY: "skip"})
    stop = boot(cloud, "host1", metadata={MAINTENANCE_POLICY_KEY: "stop-and-cold"})
    plain = boot(cloud, "host1")
    untouched = boot(cloud, "host1")

    result = await run_drain(dev_env, worker, DrainRequest(host="host1", servers=[cold, skip, stop, plain]))

    assert result.status is not None and result.status.state is PlanState.SUCCEEDED, result.status
    assert [s.resource_id for s in result.left_behind] == [skip]
    assert "skip" in result.left_behind[0].reason
    where = placement(cloud, [cold, skip, stop, plain, untouched])
    assert where[skip] == ("host1", "ACTIVE") and where[untouched] == ("host1", "ACTIVE")
    assert where[cold][0] != "host1" and where[cold][1] == "ACTIVE"
    assert where[stop][0] != "host1" and where[stop][1] == "SHUTOFF"  # stop-and-cold leaves it stopped
    assert where[plain][0] != "host1" and where[plain][1] == "ACTIVE"
    kinds = {s: {m.migration_type for m in nova_migrations(cloud, s)} for s in (cold, stop, plain, skip)}
    assert kinds == {cold: {"migration"}, stop: {"migration"}, plain: {"live-migration"}, skip: set()}
    assert service_of(cloud, "host1") == ("enabled", None)  # a partial drain keeps the host enabled


async def test_undrain_moves_the_servers_back_and_enables_the_host(
    dev_env: WorkflowEnvironment,
    worker: RunningWorker,
    cloud: LocalNovaHandle,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    live = boot(cloud, "host1")
    cold = boot_on(cloud, "host1", stopped=True)
    stays = boot(cloud, "host1", metadata={MAINTENANCE_POLICY_KEY: "skip"})
    drained = await run_drain(dev_env, worker, DrainRequest(host="host1"))
    assert drained.status is not None and drained.status.state is PlanState.SUCCEEDED
    assert service_of(cloud, "host1") == ("disabled", "watcher_maintaining by drain-host1")
    moved_to = placement(cloud, [live, cold])
    assert all(host != "host1" for host, _ in moved_to.values())

    for key, value in cli_env(dev_env, worker).items():
        monkeypatch.setenv(key, value)
    parser = argparse.ArgumentParser()
    parser.add_argument("-o", "--output", default="text")
    undrain_host.add_arguments(parser)
    args = parser.parse_args(["host1", "--move-back", "--wait", "-o", "json"])
    async with asyncio.timeout(300):
        code = await undrain_host.run(args)
    doc: dict[str, Any] = json.loads(capsys.readouterr().out)

    assert code == 0, doc
    assert (doc["workflow_id"], doc["workflow_type"], doc["outcome"]) == ("undrain-host1", "UndrainHost", "SUCCEEDED")
    result = UndrainResult.model_validate(doc["result"])
    assert result.enables and result.left_behind == []
    assert result.status is not None and result.status.counts["SUCCEEDED"] == 3  # enable + 2 moves back
    assert placement(cloud, [live, cold, stays]) == {
        live: ("host1", "ACTIVE"),
        cold: ("host1", "SHUTOFF"),
        stays: ("host1", "ACTIVE"),
    }
    back = {s: [m for m in nova_migrations(cloud, s) if m.dest_compute == "host1"] for s in (live, cold)}
    assert [m.migration_type for m in back[live]] == ["live-migration"]  # the way it left
    assert [m.migration_type for m in back[cold]] == ["migration"]
    assert service_of(cloud, "host1") == ("enabled", None)


async def test_undrain_does_not_enable_a_host_someone_else_disabled(
    dev_env: WorkflowEnvironment, worker: RunningWorker, cloud: LocalNovaHandle
) -> None:
    server = boot(cloud, "host2")
    drained = await run_drain(dev_env, worker, DrainRequest(host="host2"))
    assert drained.status is not None and drained.status.state is PlanState.SUCCEEDED
    [svc] = [s for s in cloud.conn.compute.services(binary="nova-compute") if s.host == "host2"]
    # Someone else takes the host over: enabled, then disabled for their own reason.
    cloud.conn.compute.enable_service(svc, host="host2", binary="nova-compute")
    cloud.conn.compute.disable_service(svc, host="host2", binary="nova-compute", disabled_reason="disk failure")
    where = placement(cloud, [server])

    result = await run_undrain(dev_env, worker, UndrainRequest(host="host2", move_back=True))

    assert not result.enables and "someone disabled it since" in result.enable_reason
    assert result.plan is None and result.status is None
    assert [(s.resource_id, "stays disabled" in s.reason) for s in result.left_behind] == [(server, True)]
    assert service_of(cloud, "host2") == ("disabled", "disk failure")
    assert placement(cloud, [server]) == where
    moves = [a for a in (drained.status.actions if drained.status else []) if a.id.startswith("migrate-")]
    assert [a.state for a in moves] == [ActionState.SUCCEEDED]

    never = await run_undrain(dev_env, worker, UndrainRequest(host="host3"))
    assert not never.enables and "already enabled" in never.enable_reason


async def test_undrain_after_a_cancelled_drain_brings_back_what_it_moved(
    dev_env: WorkflowEnvironment, worker: RunningWorker, cloud: LocalNovaHandle
) -> None:
    first, second = boot(cloud, "host1", name="a-first"), boot(cloud, "host1", name="b-second")
    cloud.configure(live_migration_seconds=2)
    request = DrainRequest(host="host1", max_parallel=1, poll_interval_seconds=0.5, timeout_seconds=120)
    handle = await dev_env.client.start_workflow(
        WorkflowType.DRAIN_HOST.value, request, id=drain_workflow_id("host1"), task_queue=worker.task_queue
    )

    async def first_moved_second_running() -> bool:
        status = await handle.query(STATUS_QUERY, result_type=PlanStatus)
        states = {a.id: a.state for a in status.actions}
        return states.get(f"migrate-{first}") is ActionState.SUCCEEDED and f"migrate-{second}" in status.running

    await until(first_moved_second_running, timeout=120, what="the first server moved and the second is moving")
    await handle.cancel()
    with pytest.raises(WorkflowFailureError):
        await handle.result()
    assert placement(cloud, [second]) == {second: ("host1", "ACTIVE")}  # aborted and reverted
    assert service_of(cloud, "host1") == ("disabled", "watcher_maintaining by drain-host1")

    result = await run_undrain(dev_env, worker, UndrainRequest(host="host1", move_back=True))

    assert result.enables and result.status is not None and result.status.state is PlanState.SUCCEEDED
    assert result.plan is not None
    assert [a.id for a in result.plan.actions] == ["enable-host1", f"migrate-{first}"]
    assert placement(cloud, [first, second]) == {first: ("host1", "ACTIVE"), second: ("host1", "ACTIVE")}
    assert service_of(cloud, "host1") == ("enabled", None)

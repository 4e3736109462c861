"""``drain-hosts`` end to end: three hosts of a five-host localnova, from the command line.

Temporal dev server, a real worker, real Nova 34 + placement (its own
five-host localnova, started for this module). Every assertion about where
servers went and when they moved reads Nova's API (servers, services,
``os-migrations``), not the workflow's own account.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from temporalio.testing import WorkflowEnvironment

from localnova.harness import LocalNova, LocalNovaHandle
from tests.integration.test_drain_safety_integration import boot, nova_time, run_undrain
from tests.integration.test_maintenance_plan_integration import cli_env, placement, service_of
from tests.realstack import RunningWorker, nova_migrations
from watcher_temporal.activities.nova import NovaGateway
from watcher_temporal.cli import build_parser, drain_hosts
from watcher_temporal.contract import PlanState, UndrainRequest
from watcher_temporal.contract.drain_hosts import DrainHostsResult
from watcher_temporal.worker import build_worker
from watcher_temporal.workflows import ALL_WORKFLOWS

pytestmark = pytest.mark.integration

HOSTS = ["host1", "host2", "host3", "host4", "host5"]
DRAINED = ["host1", "host2", "host3"]


@pytest.fixture(scope="module")
def five_hosts() -> Iterator[LocalNovaHandle]:
    cloud = LocalNova(hosts=HOSTS)
    handle = cloud.start()
    try:
        yield handle
    finally:
        cloud.stop()


@pytest.fixture
async def five_host_worker(dev_env: WorkflowEnvironment, five_hosts: LocalNovaHandle) -> AsyncIterator[RunningWorker]:
    task_queue = f"it-rack-{uuid.uuid4().hex[:8]}"
    nova = NovaGateway(connect=five_hosts.connect)
    async with build_worker(dev_env.client, task_queue=task_queue, nova=nova, workflows=list(ALL_WORKFLOWS)):
        yield RunningWorker(task_queue=task_queue, nova=nova)


async def test_three_hosts_are_drained_as_one_set(
    dev_env: WorkflowEnvironment,
    five_hosts: LocalNovaHandle,
    five_host_worker: RunningWorker,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cloud = five_hosts
    group = cloud.conn.compute.create_server_group(name="it-rack-spread", policy="anti-affinity")
    members = [boot(cloud, host, group=group.id) for host in ("host1", "host2")]
    others = [boot(cloud, "host1", flavor="2"), boot(cloud, "host2"), boot(cloud, "host3", flavor="2")]
    outside = boot(cloud, "host4")
    servers = members + others
    cloud.configure(live_migration_seconds=1.5)
    for key, value in cli_env(dev_env, five_host_worker).items():
        monkeypatch.setenv(key, value)
    args = build_parser().parse_args(["drain-hosts", *DRAINED, "--wait", "-o", "json"])
    real = drain_hosts.request_from_args
    monkeypatch.setattr(
        drain_hosts,
        "request_from_args",
        lambda a: real(a).model_copy(update={"poll_interval_seconds": 0.5, "timeout_seconds": 120}),
    )
    async with asyncio.timeout(300):
        code = await drain_hosts.run(args)
    doc = json.loads(capsys.readouterr().out)

    assert code == 0, doc
    assert (doc["workflow_id"], doc["workflow_type"], doc["outcome"]) == (
        "drain-hosts-host1+host2+host3",
        "DrainHosts",
        "SUCCEEDED",
    )
    assert doc["eta_seconds"] == 0.0
    result = DrainHostsResult.model_validate(doc["result"])
    assert result.status is not None and result.status.state is PlanState.SUCCEEDED
    assert result.status.counts["SUCCEEDED"] == 3 + len(servers)  # three disables, then every server
    assert set(result.plan.server_sizes or {}) == set(servers)
    assert result.destinations == ["host4", "host5"]
    assert result.exclusive_groups == {
        f"server-group-{group.id}": [a.id for a in result.plan.actions if a.id in {f"migrate-{m}" for m in members}]
    }
    # Nova's account: every server left the set, none moved inside it, the outsider stayed.
    where = placement(cloud, [*servers, outside])
    assert {where[s][0] for s in servers} <= {"host4", "host5"}, where
    assert all(status == "ACTIVE" for _, status in where.values())
    assert where[outside] == ("host4", "ACTIVE")
    records = {s: nova_migrations(cloud, s) for s in servers}
    assert all(r.dest_compute not in DRAINED for rs in records.values() for r in rs), records
    for host in DRAINED:
        assert service_of(cloud, host) == ("disabled", "watcher_maintaining by drain-hosts-host1+host2+host3")
    # Every host of the set was disabled before the first server of the set moved.
    disabled_by = max(a.finished_at for a in result.status.actions if a.id.startswith("disable-"))
    first_move = min(a.started_at for a in result.status.actions if a.id.startswith("migrate-"))
    assert disabled_by <= first_move
    # The anti-affinity members, on two different hosts of the set, never moved at the same time.
    windows = sorted(
        (nova_time(r.created_at), nova_time(r.updated_at))
        for m in members
        for r in records[m]
        if r.status == "completed"
    )
    assert len(windows) == 2
    for (_, first_end), (second_start, _) in itertools.pairwise(windows):
        assert second_start >= first_end, windows
    # Each member's move saw the other's: anti-affinity held across the set (Nova bug 1821755 avoided).
    assert {where[m][0] for m in members} == {"host4", "host5"}
    # undrain-host works on one host of the set: it reads the drain the service's reason names.
    back = others[2]  # the server that left host3
    undone = await run_undrain(dev_env, five_host_worker, UndrainRequest(host="host3", move_back=True, max_parallel=2))
    assert undone.enables, undone.enable_reason
    assert undone.status is not None and undone.status.state is PlanState.SUCCEEDED
    assert service_of(cloud, "host3")[0] == "enabled"
    assert placement(cloud, [back])[back] == ("host3", "ACTIVE")
    assert undone.plan is not None
    assert [a.id for a in undone.plan.actions] == ["enable-host3", f"migrate-{back}"]
    assert service_of(cloud, "host1") == ("disabled", "watcher_maintaining by drain-hosts-host1+host2+host3")

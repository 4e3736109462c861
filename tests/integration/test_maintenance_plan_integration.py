"""MaintenancePlan and drain-host end to end: Temporal dev server, real worker, real Nova 34.

Every assertion about Nova reads Nova's API (through openstacksdk), not the
plan's own account.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from localnova.harness import LocalNovaHandle
from tests.realstack import REPO, RunningWorker, boot_on
from watcher_temporal.cli import drain_host
from watcher_temporal.contract import (
    ActionState,
    DrainResult,
    PlanState,
    PlanStatus,
    RevertOutcome,
)

pytestmark = pytest.mark.integration


def placement(cloud: LocalNovaHandle, ids: list[str]) -> dict[str, tuple[str, str]]:
    """Host and status of each server, as Nova reports them."""
    out = {}
    for server_id in ids:
        server = cloud.conn.compute.get_server(server_id)
        out[server_id] = (server.compute_host, server.status)
    return out


def service_of(cloud: LocalNovaHandle, host: str) -> tuple[str, str | None]:
    [svc] = [s for s in cloud.conn.compute.services(binary="nova-compute") if s.host == host]
    return svc.status, svc.disabled_reason


@pytest.fixture
def clean_cloud(localnova: LocalNovaHandle) -> Iterator[LocalNovaHandle]:
    """No servers, every compute service enabled, before and after."""

    def reset() -> None:
        localnova.delete_all_servers()
        for svc in localnova.conn.compute.services(binary="nova-compute"):
            if svc.status != "enabled":
                localnova.conn.compute.enable_service(svc, host=svc.host, binary="nova-compute")

    reset()
    yield localnova
    reset()


def boot_mixed(cloud: LocalNovaHandle, host: str, active: int, shutoff: int) -> list[str]:
    return [boot_on(cloud, host) for _ in range(active)] + [boot_on(cloud, host, stopped=True) for _ in range(shutoff)]


def cli_env(dev_env: WorkflowEnvironment, worker: RunningWorker) -> dict[str, str]:
    return {
        "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
        "TEMPORAL_NAMESPACE": dev_env.client.namespace,
        "TEMPORAL_TASK_QUEUE": worker.task_queue,
    }


async def test_drain_host_empties_the_host_and_keeps_every_server_state(
    dev_env: WorkflowEnvironment,
    worker: RunningWorker,
    clean_cloud: LocalNovaHandle,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cloud = clean_cloud
    servers = boot_mixed(cloud, "host1", active=5, shutoff=3)
    before = placement(cloud, servers)
    cloud.configure(live_migration_seconds=1, cold_migration_seconds=1)
    for key, value in cli_env(dev_env, worker).items():
        monkeypatch.setenv(key, value)

    parser = argparse.ArgumentParser()
    parser.add_argument("-o", "--output", default="text")
    drain_host.add_arguments(parser)
    args = parser.parse_args(["--host", "host1", "--max-parallel", "3", "--wait", "-o", "json"])
    # poll quickly: the CLI has no flag for it, the request does
    real = drain_host.request_from_args
    monkeypatch.setattr(
        drain_host,
        "request_from_args",
        lambda a: real(a).model_copy(update={"poll_interval_seconds": 0.5, "timeout_seconds": 120}),
    )
    async with asyncio.timeout(300):
        code = await drain_host.run(args)
    doc = json.loads(capsys.readouterr().out)  # -o json: stdout is exactly one document

    assert code == 0, doc
    assert (doc["workflow_id"], doc["workflow_type"], doc["outcome"]) == ("drain-host1", "DrainHost", "SUCCEEDED")
    status = DrainResult.model_validate(doc["result"]).status
    assert status is not None
    assert status.state is PlanState.SUCCEEDED
    assert status.counts["SUCCEEDED"] == 9  # disable + 8 migrations
    after = placement(cloud, servers)
    assert all(host != "host1" for host, _ in after.values()), after
    assert {s: st for s, (_, st) in after.items()} == {s: st for s, (_, st) in before.items()}
    assert list(cloud.conn.compute.servers(all_projects=True, compute_host="host1")) == []
    assert service_of(cloud, "host1") == ("disabled", "watcher_maintaining by drain-host1")
    assert len(status.actions) == 9 and max(len(status.running), 0) == 0


async def test_dry_run_from_the_command_line_starts_nothing(
    dev_env: WorkflowEnvironment, worker: RunningWorker, clean_cloud: LocalNovaHandle
) -> None:
    cloud = clean_cloud
    servers = boot_mixed(cloud, "host2", active=1, shutoff=1)
    env = {**os.environ, **cli_env(dev_env, worker), "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "watcher_temporal.cli", "drain-host", "--host", "host2", "--backup-host", "host3"]
    proc = await asyncio.to_thread(
        subprocess.run, [*command, "--dry-run", "-o", "json"], env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["outcome"] == "DRY_RUN" and doc["workflow_id"].startswith("dry-run-drain-host2-")
    drain = DrainResult.model_validate(
        {k: v for k, v in doc.items() if k not in ("workflow_id", "outcome", "exit_code")}
    )
    moves = {a.input_parameters["resource_id"]: a.input_parameters for a in drain.plan.actions[1:]}
    assert set(moves) == set(servers)
    assert {m["migration_type"] for m in moves.values()} == {"live", "cold"}
    assert {m["destination_node"] for m in moves.values()} == {"host3"}
    assert service_of(cloud, "host2") == ("enabled", None)  # nothing ran
    assert all(host == "host2" for host, _ in placement(cloud, servers).values())

    unknown = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "watcher_temporal.cli", "drain-host", "--host", "nohost", "--dry-run"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert unknown.returncode == 2 and "not a nova-compute host" in unknown.stderr


def migrate_action(action_id: str, server_id: str, dest: str, *parents: str) -> dict[str, Any]:
    return {
        "id": action_id,
        "action_type": "migrate",
        "input_parameters": {
            "resource_id": server_id,
            "migration_type": "live",
            "source_node": "host1",
            "destination_node": dest,
            "poll_interval_seconds": 0.5,
            "timeout_seconds": 120,
        },
        "parents": list(parents),
    }


async def test_a_failing_destination_under_rollback_puts_everything_back(
    dev_env: WorkflowEnvironment, worker: RunningWorker, clean_cloud: LocalNovaHandle
) -> None:
    cloud = clean_cloud
    s1, s2, bad, later = (boot_on(cloud, "host1") for _ in range(4))
    cloud.configure(live_migration_seconds=1, live_migration_fail_hosts=["host3"])
    plan = {
        "actions": [
            {
                "id": "disable-host1",
                "action_type": "change_nova_service_state",
                "input_parameters": {"resource_name": "host1", "state": "disabled", "disabled_reason": "maint"},
            },
            migrate_action("m1", s1, "host2", "disable-host1"),
            migrate_action("m2", s2, "host2", "disable-host1"),
            migrate_action("bad", bad, "host3", "m1", "m2"),
            migrate_action("later", later, "host2", "bad"),
        ],
        "max_parallel": 3,
        "max_parallel_per_host": 3,
        "on_failure": "rollback",
    }
    handle = await dev_env.client.start_workflow(
        "MaintenancePlan", plan, id=f"plan-{uuid.uuid4()}", task_queue=worker.task_queue, result_type=PlanStatus
    )
    async with asyncio.timeout(300):
        result: PlanStatus = await handle.result()

    assert result.state is PlanState.FAILED
    by_id = {a.id: a for a in result.actions}
    assert by_id["bad"].state is ActionState.FAILED
    assert by_id["later"].state is ActionState.CANCELLED
    assert {a: by_id[a].revert for a in ("disable-host1", "m1", "m2")} == dict.fromkeys(
        ("disable-host1", "m1", "m2"), RevertOutcome.REVERTED
    ), [(a.id, a.revert_reason) for a in result.actions]
    assert placement(cloud, [s1, s2, bad, later]) == dict.fromkeys([s1, s2, bad, later], ("host1", "ACTIVE"))
    assert service_of(cloud, "host1") == ("enabled", None)

"""MigrateServer end to end: the Temporal dev server, a real worker, real Nova 34.

Nova is localnova (Nova's own code on 127.0.0.1) reached through unmodified
openstacksdk; every assertion about Nova reads Nova's API, not our result.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import pytest
from temporalio.client import WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import ApplicationError, CancelledError
from temporalio.testing import WorkflowEnvironment

from localnova.harness import LocalNovaHandle
from tests.conditions import until
from tests.realstack import RunningWorker, boot_on, nova_migrations
from watcher_temporal.binaries import temporal_cli_path
from watcher_temporal.contract import (
    MigrateServerInput,
    MigrationProgress,
    MigrationResult,
    MigrationStatus,
    Phase,
    RevertAction,
    migration_workflow_id,
)
from watcher_temporal.progress import migration_progress
from watcher_temporal.starter import start_migration

pytestmark = pytest.mark.integration


def move(server_id: str, migration_type: str, source: str, dest: str | None, **extra: Any) -> MigrateServerInput:
    return MigrateServerInput.model_validate(
        {
            "resource_id": server_id,
            "migration_type": migration_type,
            "source_node": source,
            "destination_node": dest,
            "poll_interval_seconds": 0.5,
            "timeout_seconds": 120,
            **extra,
        }
    )


async def migrate(dev_env: WorkflowEnvironment, worker: RunningWorker, params: MigrateServerInput) -> MigrationResult:
    handle = await start_migration(dev_env.client, params, task_queue=worker.task_queue)
    async with asyncio.timeout(180):
        return await handle.result()


def server_state(cloud: LocalNovaHandle, server_id: str) -> tuple[str, str, str | None]:
    server = cloud.conn.compute.get_server(server_id)
    return server.compute_host, server.status, server.task_state


async def test_live_migration_to_a_named_host(
    dev_env: WorkflowEnvironment, worker: RunningWorker, localnova: LocalNovaHandle
) -> None:
    server_id = boot_on(localnova, "host1")
    result = await migrate(dev_env, worker, move(server_id, "live", "host1", "host2"))
    assert result.status is MigrationStatus.SUCCEEDED, result.reason
    assert result.final_host == "host2"
    assert server_state(localnova, server_id) == ("host2", "ACTIVE", None)
    [record] = nova_migrations(localnova, server_id)
    assert (record.migration_type, record.status, str(record.id)) == (
        "live-migration",
        "completed",
        result.migration_id,
    )


async def test_live_migration_lets_the_scheduler_choose(
    dev_env: WorkflowEnvironment, worker: RunningWorker, localnova: LocalNovaHandle
) -> None:
    server_id = boot_on(localnova, "host1")
    result = await migrate(dev_env, worker, move(server_id, "live", "host1", None))
    assert result.status is MigrationStatus.SUCCEEDED, result.reason
    host, status, _ = server_state(localnova, server_id)
    assert host != "host1" and host == result.final_host
    assert status == "ACTIVE"


@pytest.mark.parametrize("stopped", [False, True], ids=["from-ACTIVE", "from-SHUTOFF"])
async def test_cold_migration_confirms_and_restores_the_status(
    dev_env: WorkflowEnvironment, worker: RunningWorker, localnova: LocalNovaHandle, stopped: bool
) -> None:
    server_id = boot_on(localnova, "host1", stopped=stopped)
    result = await migrate(dev_env, worker, move(server_id, "cold", "host1", "host3"))
    assert result.status is MigrationStatus.SUCCEEDED, result.reason
    assert server_state(localnova, server_id) == ("host3", "SHUTOFF" if stopped else "ACTIVE", None)
    [record] = nova_migrations(localnova, server_id)
    assert (record.migration_type, record.status) == ("migration", "confirmed")


async def test_server_not_on_source_is_skipped_and_untouched(
    dev_env: WorkflowEnvironment, worker: RunningWorker, localnova: LocalNovaHandle
) -> None:
    server_id = boot_on(localnova, "host1")
    result = await migrate(dev_env, worker, move(server_id, "live", "host3", "host2"))
    assert result.status is MigrationStatus.SKIPPED
    assert "not on source_node 'host3'" in result.reason
    assert nova_migrations(localnova, server_id) == []


async def test_missing_server_is_skipped(dev_env: WorkflowEnvironment, worker: RunningWorker) -> None:
    result = await migrate(dev_env, worker, move(str(uuid.uuid4()), "live", "host1", "host2"))
    assert result.status is MigrationStatus.SKIPPED
    assert "does not exist" in result.reason


@pytest.mark.parametrize(
    ("kind", "dest", "stopped", "expected"),
    [
        ("live", "host9", False, "not a nova-compute host"),
        ("live", "host1", True, "needs an ACTIVE server"),
        ("cold", "host3", False, "compute service is disabled (maintenance test)"),
    ],
    ids=["unknown-destination", "live-of-SHUTOFF", "disabled-destination"],
)
async def test_failed_precondition_fails_the_workflow_without_touching_nova(
    dev_env: WorkflowEnvironment,
    worker: RunningWorker,
    localnova: LocalNovaHandle,
    kind: str,
    dest: str,
    stopped: bool,
    expected: str,
) -> None:
    source = "host2"
    server_id = boot_on(localnova, source, stopped=stopped)
    compute = localnova.conn.compute
    if expected.startswith("compute service is disabled"):
        [service] = list(compute.services(binary="nova-compute", host=dest))
        compute.disable_service(service, disabled_reason="maintenance test")
    try:
        with pytest.raises(WorkflowFailureError) as failure:
            await migrate(dev_env, worker, move(server_id, kind, source, dest))
    finally:
        for service in compute.services(binary="nova-compute"):
            if service.status == "disabled":
                compute.enable_service(service)
    cause = failure.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "PreconditionFailed"
    assert expected in cause.message
    assert nova_migrations(localnova, server_id) == []


@pytest.mark.parametrize("kind", ["live", "cold"])
async def test_failing_destination_is_reverted_and_the_server_stays_on_its_source(
    dev_env: WorkflowEnvironment, worker: RunningWorker, localnova: LocalNovaHandle, kind: str
) -> None:
    localnova.configure(live_migration_fail_hosts=["host2"], cold_migration_fail_hosts=["host2"])
    server_id = boot_on(localnova, "host1")
    result = await migrate(dev_env, worker, move(server_id, kind, "host1", "host2"))
    assert result.status is MigrationStatus.REVERTED
    assert "MigrationFailed" in result.reason
    assert result.revert is not None and result.revert.action is RevertAction.NOTHING_TO_DO
    assert server_state(localnova, server_id) == ("host1", "ACTIVE", None)
    assert [m.status for m in nova_migrations(localnova, server_id)] == ["error"]


async def test_cancel_aborts_a_running_live_migration_and_the_server_is_back_within_5_s(
    dev_env: WorkflowEnvironment, worker: RunningWorker, localnova: LocalNovaHandle
) -> None:
    localnova.configure(live_migration_seconds=10)
    server_id = boot_on(localnova, "host1")
    handle = await start_migration(
        dev_env.client, move(server_id, "live", "host1", "host2"), task_queue=worker.task_queue
    )

    async def migrating_with_progress() -> bool:
        progress = await migration_progress(dev_env.client, handle.id)
        return progress.phase is Phase.WAITING and progress.memory_remaining_bytes is not None

    await until(migrating_with_progress, timeout=30, what="the live migration runs and reports memory progress")
    cancelled_at = time.monotonic()
    await handle.cancel()
    await until(
        lambda: (
            server_state(localnova, server_id) == ("host1", "ACTIVE", None)
            and nova_migrations(localnova, server_id)[0].status == "cancelled"
        ),
        timeout=5,
        what="the aborted server is idle on its source",
    )
    back_after = time.monotonic() - cancelled_at
    with pytest.raises(WorkflowFailureError) as failure:
        await handle.result()
    assert isinstance(failure.value.cause, CancelledError)
    progress = await handle.query("progress", result_type=MigrationProgress)
    assert progress.revert is not None and progress.revert.action is RevertAction.ABORTED, progress
    assert back_after < 5


async def test_worker_killed_while_waiting_resumes_and_nova_saw_exactly_one_migration(
    dev_env: WorkflowEnvironment, localnova: LocalNovaHandle, worker_process_factory: Any
) -> None:
    localnova.configure(live_migration_seconds=8)
    task_queue = f"kill-{uuid.uuid4().hex[:8]}"
    first = worker_process_factory(task_queue)
    first.start()
    server_id = boot_on(localnova, "host1")
    handle = await start_migration(dev_env.client, move(server_id, "live", "host1", "host2"), task_queue=task_queue)

    async def waiting() -> bool:
        progress = await migration_progress(dev_env.client, handle.id)
        return progress.phase is Phase.WAITING and progress.nova_migration_status is not None

    await until(waiting, timeout=60, what="the first worker is polling the migration")
    first.kill()
    second = worker_process_factory(task_queue)
    second.start()
    async with asyncio.timeout(120):
        result: MigrationResult = await handle.result()
    assert result.status is MigrationStatus.SUCCEEDED, result.reason
    assert server_state(localnova, server_id) == ("host2", "ACTIVE", None)
    live = [m for m in nova_migrations(localnova, server_id) if m.migration_type == "live-migration"]
    assert len(live) == 1, [(m.id, m.status) for m in live]
    history = await handle.fetch_history()
    wait_attempts = [
        e.activity_task_started_event_attributes.attempt
        for e in history.events
        if e.HasField("activity_task_started_event_attributes")
    ]
    assert max(wait_attempts) >= 2  # the wait was retried on the second worker, not restarted by the workflow


async def test_started_from_the_temporal_cli_with_plain_json(
    dev_env: WorkflowEnvironment, worker: RunningWorker, localnova: LocalNovaHandle
) -> None:
    server_id = boot_on(localnova, "host2")
    payload = {"resource_id": server_id, "migration_type": "live", "source_node": "host2", "destination_node": "host3"}
    address = dev_env.client.service_client.config.target_host
    cli = await asyncio.create_subprocess_exec(
        temporal_cli_path(),
        "workflow",
        "start",
        "--address",
        address,
        "--type",
        "MigrateServer",
        "--task-queue",
        worker.task_queue,
        "--workflow-id",
        migration_workflow_id(server_id),
        "--input",
        json.dumps(payload),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(cli.communicate(), timeout=30)
    assert cli.returncode == 0, output.decode()
    handle: WorkflowHandle[Any, MigrationResult] = dev_env.client.get_workflow_handle(
        migration_workflow_id(server_id), result_type=MigrationResult
    )
    async with asyncio.timeout(120):
        result = await handle.result()
    assert result.status is MigrationStatus.SUCCEEDED, result.reason
    assert server_state(localnova, server_id) == ("host3", "ACTIVE", None)


async def test_started_as_child_workflows_of_a_parent(
    dev_env: WorkflowEnvironment, worker: RunningWorker, localnova: LocalNovaHandle
) -> None:
    live_id = boot_on(localnova, "host1")
    cold_id = boot_on(localnova, "host1")
    moves = [move(live_id, "live", "host1", "host3"), move(cold_id, "cold", "host1", "host2")]
    handle = await dev_env.client.start_workflow(
        "MigrateMany",
        moves,
        id=f"plan-{uuid.uuid4().hex[:8]}",
        task_queue=worker.task_queue,
        result_type=list[MigrationResult],
    )
    async with asyncio.timeout(120):
        results = await handle.result()
    assert [r.status for r in results] == [MigrationStatus.SUCCEEDED, MigrationStatus.SUCCEEDED]
    assert server_state(localnova, live_id)[0] == "host3"
    assert server_state(localnova, cold_id)[0] == "host2"
    child = dev_env.client.get_workflow_handle(migration_workflow_id(live_id))
    assert (await child.describe()).parent_id == handle.id


async def test_transient_nova_faults_do_not_fail_the_migration(
    dev_env: WorkflowEnvironment, worker: RunningWorker, localnova: LocalNovaHandle
) -> None:
    server_id = boot_on(localnova, "host1")
    localnova.configure(fault_503_rate=0.3, fault_drop_rate=0.1, live_migration_seconds=2)
    result = await migrate(dev_env, worker, move(server_id, "live", "host1", "host3"))
    faults = localnova.stats()
    localnova.configure(fault_503_rate=0, fault_drop_rate=0)
    assert result.status is MigrationStatus.SUCCEEDED, result.reason
    assert server_state(localnova, server_id) == ("host3", "ACTIVE", None)
    assert len([m for m in nova_migrations(localnova, server_id)]) == 1
    assert faults.get("faults", {}), faults  # the faults really happened

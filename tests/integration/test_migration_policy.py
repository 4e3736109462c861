"""Migration policy on the real stack: deadlines, force-complete, block migration, abort while queued or preparing.

Every migration runs on localnova (Nova 34 over HTTP) through a real worker
and the Temporal dev server; a stalled copy is localnova's
``live_migration_stall_servers`` knob (the memory remaining stops
decreasing half way until force-complete or abort, as with libvirt).
Every assertion about Nova reads Nova's API.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from temporalio.client import WorkflowFailureError, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError, CancelledError
from temporalio.testing import WorkflowEnvironment

from localnova.harness import LocalNovaHandle
from tests.conditions import until
from tests.integration.test_migrate_server_integration import move, server_state
from tests.realstack import RunningWorker, boot_on, nova_migrations
from tests.watcher_temporal.test_cli import cli
from watcher_temporal.cli.exit_codes import ExitCode
from watcher_temporal.contract import (
    FORCE_COMPLETE_UPDATE,
    DeadlineAction,
    DeadlineKind,
    ForceCompleteResult,
    MigrateServerInput,
    MigrationResult,
    MigrationStatus,
    Phase,
    RevertAction,
)
from watcher_temporal.progress import migration_progress
from watcher_temporal.starter import start_migration

pytestmark = pytest.mark.integration


async def start(
    dev_env: WorkflowEnvironment, worker: RunningWorker, params: MigrateServerInput
) -> WorkflowHandle[Any, MigrationResult]:
    return await start_migration(dev_env.client, params, task_queue=worker.task_queue)


async def result_of(handle: WorkflowHandle[Any, MigrationResult]) -> MigrationResult:
    async with asyncio.timeout(120):
        return await handle.result()


def in_progress(cloud: LocalNovaHandle, server_id: str) -> list[Any]:
    """The server's in-progress live migrations with their progress (``GET /servers/{id}/migrations``)."""
    return list(cloud.conn.compute.server_migrations(server_id))


async def until_copy_stalls(cloud: LocalNovaHandle, server_id: str) -> Any:
    """Wait until Nova shows the live migration running with memory progress; return it."""

    def running() -> bool:
        return any(m.status == "running" and m.memory_remaining_bytes for m in in_progress(cloud, server_id))

    await until(running, timeout=30, what="the live migration copies memory")
    [migration] = in_progress(cloud, server_id)
    return migration


async def cancel_when_nova_says(localnova: LocalNovaHandle, handle: Any, server_id: str, status: str) -> None:
    """Cancel the migration once Nova's only record of it shows ``status``; await it cancelled and the server back."""

    def reached() -> bool:
        return [m.status for m in nova_migrations(localnova, server_id)] == [status]

    await until(reached, timeout=30, what=f"Nova's migration record is {status}")
    await handle.cancel()
    with pytest.raises(WorkflowFailureError) as failure:
        await result_of(handle)
    assert isinstance(failure.value.cause, CancelledError)
    await until(
        lambda: server_state(localnova, server_id) == ("host1", "ACTIVE", None),
        timeout=30,
        what="the server is idle on its source",
    )


async def test_stalled_migration_hits_the_progress_deadline_and_is_aborted(
    dev_env: WorkflowEnvironment, worker: RunningWorker, localnova: LocalNovaHandle
) -> None:
    server_id = boot_on(localnova, "host1")
    localnova.configure(live_migration_seconds=2, live_migration_stall_servers=[server_id])
    handle = await start(dev_env, worker, move(server_id, "live", "host1", "host2", progress_timeout_seconds=3))
    result = await result_of(handle)
    assert result.status is MigrationStatus.REVERTED, result.reason
    assert result.deadline is not None
    assert (result.deadline.deadline, result.deadline.action) == (DeadlineKind.PROGRESS, DeadlineAction.ABORTED)
    assert result.deadline.limit_seconds == 3
    assert "progress deadline" in result.reason
    assert result.revert is not None and result.revert.action is RevertAction.ABORTED
    assert server_state(localnova, server_id) == ("host1", "ACTIVE", None)
    assert [m.status for m in nova_migrations(localnova, server_id)] == ["cancelled"]


async def test_stalled_migration_is_force_completed_at_the_progress_deadline(
    dev_env: WorkflowEnvironment, worker: RunningWorker, localnova: LocalNovaHandle
) -> None:
    server_id = boot_on(localnova, "host1")
    localnova.configure(live_migration_seconds=2, live_migration_stall_servers=[server_id])
    params = move(server_id, "live", "host1", "host2", progress_timeout_seconds=3, on_timeout="force_complete")
    result = await result_of(await start(dev_env, worker, params))
    assert result.status is MigrationStatus.SUCCEEDED, result.reason
    assert result.deadline is not None
    assert (result.deadline.deadline, result.deadline.action) == (
        DeadlineKind.PROGRESS,
        DeadlineAction.FORCE_COMPLETED,
    )
    assert "force-completed at the progress deadline" in result.reason
    assert server_state(localnova, server_id) == ("host2", "ACTIVE", None)
    assert [m.status for m in nova_migrations(localnova, server_id)] == ["completed"]


async def test_size_based_completion_deadline_fires_before_timeout_seconds(
    dev_env: WorkflowEnvironment, worker: RunningWorker, localnova: LocalNovaHandle
) -> None:
    server_id = boot_on(localnova, "host1")
    ram_gib = max(2.0, localnova.conn.compute.get_server(server_id).flavor.ram / 1024)
    localnova.configure(live_migration_seconds=60)
    # 4 s per GiB of RAM: m1.tiny (512 MiB, counted as 2 GiB like Nova does) gets 8 s,
    # far below timeout_seconds (120).
    params = move(server_id, "live", "host1", "host2", completion_timeout_per_gib=4)
    result = await result_of(await start(dev_env, worker, params))
    assert result.status is MigrationStatus.REVERTED, result.reason
    assert result.deadline is not None
    assert (result.deadline.deadline, result.deadline.action) == (DeadlineKind.COMPLETION, DeadlineAction.ABORTED)
    assert result.deadline.limit_seconds == pytest.approx(4 * ram_gib)
    assert "completion deadline" in result.reason
    assert server_state(localnova, server_id) == ("host1", "ACTIVE", None)
    assert [m.status for m in nova_migrations(localnova, server_id)] == ["cancelled"]


async def test_force_complete_update_finishes_a_stalled_migration(
    dev_env: WorkflowEnvironment, worker: RunningWorker, localnova: LocalNovaHandle
) -> None:
    server_id = boot_on(localnova, "host1")
    localnova.configure(live_migration_seconds=2, live_migration_stall_servers=[server_id])
    handle = await start(dev_env, worker, move(server_id, "live", "host1", "host2"))
    stalled = await until_copy_stalls(localnova, server_id)

    async def waiting() -> bool:
        return (await migration_progress(dev_env.client, handle.id)).phase is Phase.WAITING

    await until(waiting, timeout=30, what="the workflow waits for Nova's copy")
    done = await handle.execute_update(FORCE_COMPLETE_UPDATE, result_type=ForceCompleteResult)
    assert (done.migration_id, done.nova_migration_status, done.force_completes) == (str(stalled.id), "running", 1)
    result = await result_of(handle)
    assert result.status is MigrationStatus.SUCCEEDED, result.reason
    assert result.force_completes == 1 and result.deadline is None
    assert server_state(localnova, server_id) == ("host2", "ACTIVE", None)
    assert [m.status for m in nova_migrations(localnova, server_id)] == ["completed"]


async def test_force_complete_update_is_refused_for_a_cold_migration(
    dev_env: WorkflowEnvironment, worker: RunningWorker, localnova: LocalNovaHandle
) -> None:
    localnova.configure(cold_migration_seconds=4)
    server_id = boot_on(localnova, "host1")
    handle = await start(dev_env, worker, move(server_id, "cold", "host1", "host2"))

    async def waiting() -> bool:
        return (await migration_progress(dev_env.client, handle.id)).phase is Phase.WAITING

    await until(waiting, timeout=30, what="the cold migration is under way")
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(FORCE_COMPLETE_UPDATE, result_type=ForceCompleteResult)
    cause = refused.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "InvalidInput"
    assert "only a live migration can be force-completed" in cause.message
    result = await result_of(handle)
    assert result.status is MigrationStatus.SUCCEEDED and result.force_completes == 0


async def test_force_complete_command_finishes_a_stalled_migration(
    dev_env: WorkflowEnvironment, worker: RunningWorker, localnova: LocalNovaHandle
) -> None:
    server_id = boot_on(localnova, "host1")
    localnova.configure(live_migration_seconds=2, live_migration_stall_servers=[server_id])
    handle = await start(dev_env, worker, move(server_id, "live", "host1", "host3"))
    await until_copy_stalls(localnova, server_id)

    async def waiting() -> bool:
        return (await migration_progress(dev_env.client, handle.id)).phase is Phase.WAITING

    await until(waiting, timeout=30, what="the workflow waits for Nova's copy")
    run = await cli(dev_env, worker.task_queue, "force-complete", server_id, "--wait", "-o", "json")
    assert run.code == ExitCode.SUCCESS, run.stderr
    doc = run.json()
    assert doc["outcome"] == "SUCCEEDED" and doc["result"]["force_completes"] == 1, doc
    assert server_state(localnova, server_id) == ("host3", "ACTIVE", None)
    again = await cli(dev_env, worker.task_queue, "force-complete", server_id, "-o", "json")
    assert again.code == ExitCode.USAGE and "not running" in again.json()["error"]["message"]
    assert "Traceback" not in again.stderr


async def test_migrate_command_passes_the_policy_options(
    dev_env: WorkflowEnvironment, worker: RunningWorker, localnova: LocalNovaHandle
) -> None:
    server_id = boot_on(localnova, "host2")
    localnova.configure(live_migration_seconds=2, live_migration_stall_servers=[server_id])
    run = await cli(
        dev_env,
        worker.task_queue,
        *("migrate", server_id, "--live", "--from", "host2", "--to", "host3", "--poll-interval", "0.5"),
        *("--progress-timeout", "3", "--on-timeout", "force_complete", "--block-migration", "false"),
        *("--wait", "-o", "json"),
    )
    assert run.code == ExitCode.SUCCESS, run.stderr
    deadline = run.json()["result"]["deadline"]
    assert (deadline["deadline"], deadline["action"], deadline["limit_seconds"]) == ("progress", "force_completed", 3)
    assert server_state(localnova, server_id) == ("host3", "ACTIVE", None)


@pytest.mark.parametrize("block", [True, False], ids=["block", "no-block"])
async def test_block_migration_reaches_nova(
    dev_env: WorkflowEnvironment, worker: RunningWorker, localnova: LocalNovaHandle, block: bool
) -> None:
    server_id = boot_on(localnova, "host1")
    localnova.configure(live_migration_seconds=2, live_migration_stall_servers=[server_id])
    handle = await start(dev_env, worker, move(server_id, "live", "host1", "host2", block_migration=block))
    stalled = await until_copy_stalls(localnova, server_id)
    # Nova hands the driver the request's block_migration; disk progress exists only for a block migration.
    assert bool(stalled.disk_total_bytes) is block, stalled
    await handle.cancel()
    with pytest.raises(WorkflowFailureError):
        await result_of(handle)
    assert server_state(localnova, server_id) == ("host1", "ACTIVE", None)


async def test_cancel_while_nova_prepares_aborts_and_reverts(
    dev_env: WorkflowEnvironment, worker: RunningWorker, localnova: LocalNovaHandle
) -> None:
    localnova.configure(live_migration_prepare_seconds=6, live_migration_seconds=2)
    server_id = boot_on(localnova, "host1")
    handle = await start(dev_env, worker, move(server_id, "live", "host1", "host2"))
    await cancel_when_nova_says(localnova, handle, server_id, "preparing")
    assert [m.status for m in nova_migrations(localnova, server_id)] == ["cancelled"]
    # The revert aborted the preparing migration (microversion 2.65) instead of waiting for the copy.
    progress = await migration_progress(dev_env.client, handle.id)
    assert progress.revert is not None and progress.revert.action is RevertAction.ABORTED, progress


async def test_cancel_while_nova_queues_aborts_and_reverts(
    dev_env: WorkflowEnvironment, worker: RunningWorker, localnova: LocalNovaHandle
) -> None:
    held_id, server_id = boot_on(localnova, "host1"), boot_on(localnova, "host1")
    # One live migration at a time per source host (Nova's default), the first one's copy stalls: Nova queues
    # the second.
    localnova.configure(
        max_concurrent_live_migrations=1, live_migration_seconds=2, live_migration_stall_servers=[held_id]
    )
    try:
        localnova.conn.compute.live_migrate_server(held_id, host="host3", block_migration="auto")
        await until_copy_stalls(localnova, held_id)
        handle = await start(dev_env, worker, move(server_id, "live", "host1", "host2"))
        await cancel_when_nova_says(localnova, handle, server_id, "queued")
        # Nova cancelled the queued future (compute manager live_migration_abort): it never ran.
        [record] = nova_migrations(localnova, server_id)
        assert record.status == "cancelled"
        progress = await migration_progress(dev_env.client, handle.id)
        assert progress.revert is not None and progress.revert.action is RevertAction.ABORTED, progress
        assert f"aborted live migration {record.id}" in progress.revert.steps
        # The held migration was left alone.
        assert [m.status for m in in_progress(localnova, held_id)] == ["running"]
    finally:
        for migration in in_progress(localnova, held_id):
            localnova.conn.compute.abort_server_migration(migration, held_id)
        localnova.reset_config()
        await until(lambda: in_progress(localnova, held_id) == [], timeout=30, what="the held migration is aborted")

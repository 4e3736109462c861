"""Progress comes only from the worker: a forged ``report_progress`` signal changes nothing.

The worker's wait activity reports Nova's progress in its heartbeat details
(only the worker that holds the activity can write them); anyone allowed to
signal the workflow could send ``report_progress``, so it is ignored.
"""

from __future__ import annotations

import asyncio

from temporalio import activity
from temporalio.testing import WorkflowEnvironment

from tests.conditions import until
from tests.workflows import standins
from tests.workflows.standins import StandInActivities, migrate_input
from tests.workflows.test_migrate_server import record, running_worker, start
from watcher_temporal.contract import (
    FORCE_COMPLETE_UPDATE,
    PROGRESS_QUERY,
    PROGRESS_SIGNAL,
    ForceCompleteRequest,
    ForceCompleteResult,
    MigrationProgress,
    MigrationProgressReport,
    MigrationResult,
    MigrationStatus,
    Phase,
    TrackedMigration,
    WaitResult,
)
from watcher_temporal.progress import migration_progress

FORGED = MigrationProgressReport(
    migration_id="999",
    nova_migration_status="completed",
    memory_total_bytes=1000,
    memory_remaining_bytes=0,
    attempt=7,
)


async def test_a_forged_progress_signal_changes_neither_the_query_nor_the_result(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    release = asyncio.Event()
    forced: list[ForceCompleteRequest] = []

    async def wait(request: TrackedMigration) -> WaitResult:
        """The real wait's way: progress in heartbeat details, until Nova finishes."""
        report = MigrationProgressReport(
            migration_id="7", nova_migration_status="running", memory_total_bytes=1000, memory_remaining_bytes=400
        )
        while not release.is_set():
            activity.heartbeat(report)
            await asyncio.sleep(0.2)
        return WaitResult(server=standins.server(standins.DEST), nova_migration_status="completed", polls=5)

    async def force_complete(request: ForceCompleteRequest) -> ForceCompleteResult:
        forced.append(request)
        return ForceCompleteResult(migration_id=request.migration_id or "?", nova_migration_status="running")

    acts = StandInActivities(wait_does=wait, force_complete_does=force_complete)
    client = time_skipping_env.client
    async with running_worker(time_skipping_env, acts) as tq:
        handle = await start(time_skipping_env, tq, migrate_input(resource_id=standins.FORGED_PROGRESS_SERVER_ID))

        async def worker_progress_seen() -> bool:
            return (await migration_progress(client, handle.id)).memory_remaining_bytes == 400

        await until(worker_progress_seen, timeout=10, what="the wait's heartbeat shows progress")
        before = await handle.query(PROGRESS_QUERY, result_type=MigrationProgress)
        await handle.signal(PROGRESS_SIGNAL, FORGED)
        # The update runs after the signal (in order): it reads the migration id the workflow holds.
        await handle.execute_update(FORCE_COMPLETE_UPDATE, result_type=ForceCompleteResult)
        after = await handle.query(PROGRESS_QUERY, result_type=MigrationProgress)
        merged = await migration_progress(client, handle.id)
        release.set()
        result: MigrationResult = await handle.result()
        await record(handle, "forged_progress_ignored")

    assert after == before
    assert (after.phase, after.migration_id, after.nova_migration_status) == (Phase.WAITING, "7", None)
    assert (merged.nova_migration_status, merged.memory_remaining_bytes, merged.migration_id) == ("running", 400, "7")
    assert [r.migration_id for r in forced] == ["7"]  # the decision used the worker's id, not the forged one
    assert result.status is MigrationStatus.SUCCEEDED
    assert result.migration_id == "7" and "999" not in result.reason

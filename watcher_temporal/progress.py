"""Read a migration's live progress on demand, at no cost to its history.

``MigrateServer`` answers its ``progress`` query with its phase, attempts and
revert outcome; what Nova says while the migration runs (status, memory
copied) lives in the heartbeat details of its running wait activity, which
Temporal keeps in the workflow's description. :func:`migration_progress`
merges the two, so progress costs no history event however long the
migration takes.
"""

from __future__ import annotations

from temporalio.client import Client

from watcher_temporal.contract import (
    PROGRESS_QUERY,
    MigrateActivity,
    MigrationProgress,
    MigrationProgressReport,
)


async def latest_report(client: Client, workflow_id: str, run_id: str | None = None) -> MigrationProgressReport | None:
    """The running wait activity's last heartbeat, or None when it is not waiting (or has not beaten yet)."""
    description = await client.get_workflow_handle(workflow_id, run_id=run_id).describe()
    for pending in description.raw_description.pending_activities:
        if pending.activity_type.name != MigrateActivity.WAIT.value or not pending.heartbeat_details.payloads:
            continue
        [report] = await client.data_converter.decode(pending.heartbeat_details.payloads[:1], [MigrationProgressReport])
        return report if isinstance(report, MigrationProgressReport) else None
    return None


async def migration_progress(client: Client, workflow_id: str, run_id: str | None = None) -> MigrationProgress:
    """The ``progress`` query's answer with the wait's last heartbeat merged in."""
    handle = client.get_workflow_handle(workflow_id, run_id=run_id)
    progress = await handle.query(PROGRESS_QUERY, result_type=MigrationProgress)
    report = await latest_report(client, workflow_id, run_id)
    if report is None:
        return progress
    return progress.model_copy(
        update={
            "migration_id": report.migration_id or progress.migration_id,
            "nova_migration_status": report.nova_migration_status,
            "memory_total_bytes": report.memory_total_bytes,
            "memory_remaining_bytes": report.memory_remaining_bytes,
            "attempts": progress.attempts | {MigrateActivity.WAIT.value: report.attempt},
        }
    )

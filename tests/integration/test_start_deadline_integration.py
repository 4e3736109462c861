"""``timeout_seconds`` bounds the start on a real Nova answering every POST with HTTP 500.

localnova's fault knobs (``fault_500_rate`` on ``POST``) make Nova refuse every
start while reads work; the migration must give up by its deadline, revert
(nothing to revert), say why, and never start the migration once the fault is
lifted.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.testing import WorkflowEnvironment

from localnova.harness import LocalNovaHandle
from tests.realstack import RunningWorker, boot_on, nova_migrations
from watcher_temporal.contract import MigrateServerInput, MigrationStatus, RevertAction
from watcher_temporal.starter import start_migration

pytestmark = pytest.mark.integration

TIMEOUT = 20
REVERT_BUDGET = 60


async def test_every_start_refused_with_500_ends_by_timeout_seconds_and_never_migrates_later(
    dev_env: WorkflowEnvironment, worker: RunningWorker, localnova: LocalNovaHandle
) -> None:
    server_id = boot_on(localnova, "host1")
    other = boot_on(localnova, "host1")
    localnova.configure(fault_500_rate=1.0, fault_methods=["POST"], live_migration_seconds=1)
    localnova.reset_stats()  # count the starts only
    params = MigrateServerInput(
        resource_id=server_id,
        migration_type="live",
        source_node="host1",
        destination_node="host2",
        poll_interval_seconds=0.5,
        timeout_seconds=TIMEOUT,
        revert_timeout_seconds=REVERT_BUDGET,
    )
    handle = await start_migration(dev_env.client, params, task_queue=worker.task_queue)
    async with asyncio.timeout(TIMEOUT + REVERT_BUDGET + 60):
        result = await handle.result()
    posts = localnova.stats()["by_method"].get("POST", 0)

    assert result.status is MigrationStatus.REVERTED, result.reason
    assert f"timeout_seconds ({TIMEOUT} s) passed before Nova accepted the migration" in result.reason
    assert "500" in result.reason
    assert result.revert is not None and result.revert.action is RevertAction.NOTHING_TO_DO
    assert result.timings.seconds <= TIMEOUT + REVERT_BUDGET
    assert posts >= 2  # it did retry while time was left
    history = await handle.fetch_history()
    started = history.events[0].event_time.ToDatetime()
    execute_starts = [
        e
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
        and history.events[
            e.activity_task_started_event_attributes.scheduled_event_id - 1
        ].activity_task_scheduled_event_attributes.activity_type.name
        == "migrate.execute"
    ]
    assert execute_starts and all(
        e.event_time.ToDatetime() < started + timedelta(seconds=TIMEOUT) for e in execute_starts
    )

    # The fault is lifted: the worker runs another migration, and still never starts the first one.
    localnova.configure(fault_500_rate=0.0)
    again = params.model_copy(update={"resource_id": other})
    async with asyncio.timeout(120):
        moved = await (await start_migration(dev_env.client, again, task_queue=worker.task_queue)).result()
    assert moved.status is MigrationStatus.SUCCEEDED, moved.reason
    assert nova_migrations(localnova, server_id) == []
    server = localnova.conn.compute.get_server(server_id)
    assert (server.compute_host, server.status) == ("host1", "ACTIVE")
    assert localnova.stats()["by_method"].get("POST", 0) == posts + 1  # only the other server's start
    localnova.delete_all_servers()

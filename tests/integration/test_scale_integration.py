"""Constant cost per migration on the real stack: history length and Nova reads do not grow.

The session worker shares one Nova observer between its waits, so neither the
MigrateServer history nor the per-server Compute API reads grow with the
migration's length or with the number of migrations in flight. Counts only;
timings live in ``benchmarks/scale.py``.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from localnova.harness import LocalNovaHandle
from tests.conditions import until
from tests.realstack import RunningWorker, boot_on, nova_migrations
from watcher_temporal.contract import MigrateServerInput, MigrationResult, MigrationStatus, Phase, migration_workflow_id
from watcher_temporal.progress import migration_progress
from watcher_temporal.starter import start_migration

pytestmark = pytest.mark.integration

#: The bound on a MigrateServer history, whatever the migration's length: 40 when it was set, plus
#: one marker event for each patch added since (``timeout-bounds-start``, ``progress-signal-ignored``).
MAX_HISTORY_EVENTS = 42


def live_move(server_id: str, source: str, dest: str, *, poll: float, timeout: float = 300) -> MigrateServerInput:
    return MigrateServerInput(
        resource_id=server_id,
        migration_type="live",
        source_node=source,
        destination_node=dest,
        poll_interval_seconds=poll,
        timeout_seconds=timeout,
    )


async def history_events(dev_env: WorkflowEnvironment, workflow_id: str) -> int:
    history = await dev_env.client.get_workflow_handle(workflow_id).fetch_history()
    return len(history.events)


@pytest.mark.parametrize("seconds", [2, 60], ids=["short-2s", "long-60s"])
async def test_history_is_bounded_whatever_the_migration_length(
    dev_env: WorkflowEnvironment, worker: RunningWorker, localnova: LocalNovaHandle, seconds: int
) -> None:
    localnova.configure(live_migration_seconds=seconds)
    server_id = boot_on(localnova, "host1")
    handle = await start_migration(
        dev_env.client, live_move(server_id, "host1", "host2", poll=1.0), task_queue=worker.task_queue
    )
    async with asyncio.timeout(seconds + 120):
        result = await handle.result()
    assert result.status is MigrationStatus.SUCCEEDED, result.reason
    # A 60 s migration polled every second: 60+ looks at Nova, none of them in the history.
    assert await history_events(dev_env, handle.id) <= MAX_HISTORY_EVENTS


#: Concurrent live migrations of the CI-sized run (the 1,000 run is benchmarks/scale.py).
IN_FLIGHT = 50
#: Migrations held by two worker processes when one of them is killed.
SHARED_IN_FLIGHT = 30


async def test_many_in_flight_succeed_with_bounded_history_and_per_server_reads(
    dev_env: WorkflowEnvironment, worker: RunningWorker, localnova: LocalNovaHandle
) -> None:
    localnova.configure(live_migration_seconds=10, max_concurrent_live_migrations=0)
    moves = []
    for i in range(IN_FLIGHT):
        source, dest = ("host1", "host2") if i % 2 else ("host2", "host3")
        moves.append(live_move(boot_on(localnova, source), source, dest, poll=0.5))
    localnova.reset_stats()
    handle = await dev_env.client.start_workflow(
        "MigrateMany",
        moves,
        id=f"scale-{uuid.uuid4().hex[:8]}",
        task_queue=worker.task_queue,
        result_type=list[MigrationResult],
    )
    async with asyncio.timeout(300):
        results = await handle.result()
    assert [r.status for r in results] == [MigrationStatus.SUCCEEDED] * IN_FLIGHT, [r.reason for r in results]
    stats = localnova.stats()
    assert not any(status.startswith("5") for status in stats["by_status"]), stats["by_status"]
    # Each migration reads its server a fixed number of times (pre_execute, execute's
    # adoption check, the observer's first look, post_execute), however many polls
    # its 10 s took at 0.5 s: per-migration polling would add ~20 reads each.
    server_reads = stats["by_path_template"]["GET /v2.1/servers/{id}"]
    assert IN_FLIGHT <= server_reads <= 6 * IN_FLIGHT, server_reads
    # The observer's list calls are per poll interval, not per migration: 50 migrations
    # of ~10 s polled every 0.5 s would be ~1,000 reads each way without it.
    lists = sum(
        count
        for template, count in stats["by_path_template"].items()
        if template.startswith(("GET /v2.1/os-migrations", "GET /v2.1/servers/detail"))
    )
    assert lists <= 400, stats["by_path_template"]
    for move in moves:
        assert await history_events(dev_env, migration_workflow_id(move.resource_id)) <= MAX_HISTORY_EVENTS


async def test_two_workers_share_the_load_and_killing_one_loses_nothing(
    dev_env: WorkflowEnvironment, localnova: LocalNovaHandle, worker_process_factory: Any
) -> None:
    localnova.configure(live_migration_seconds=15, max_concurrent_live_migrations=0)
    task_queue = f"shared-{uuid.uuid4().hex[:8]}"
    doomed, survivor = worker_process_factory(task_queue), worker_process_factory(task_queue)
    doomed.start()
    survivor.start()
    moves = []
    for i in range(SHARED_IN_FLIGHT):
        source, dest = ("host1", "host2") if i % 2 else ("host2", "host3")
        moves.append(live_move(boot_on(localnova, source), source, dest, poll=1.0))
    handles = [await start_migration(dev_env.client, move, task_queue=task_queue) for move in moves]

    async def all_waiting() -> bool:
        phases = [await migration_progress(dev_env.client, h.id) for h in handles]
        return all(p.phase is Phase.WAITING and p.nova_migration_status is not None for p in phases)

    await until(all_waiting, timeout=120, what="every migration is being waited for")
    doomed.kill()
    async with asyncio.timeout(300):
        results = [await h.result() for h in handles]
    assert [r.status for r in results] == [MigrationStatus.SUCCEEDED] * SHARED_IN_FLIGHT, [r.reason for r in results]
    started_by: dict[str, set[str]] = {doomed.identity: set(), survivor.identity: set()}
    retried_waits = 0
    for move, handle in zip(moves, handles, strict=True):
        live = [m for m in nova_migrations(localnova, move.resource_id) if m.migration_type == "live-migration"]
        assert len(live) == 1, (move.resource_id, [(m.id, m.status) for m in live])  # never a second migration
        history = await handle.fetch_history()
        for event in history.events:
            if event.HasField("activity_task_started_event_attributes"):
                started = event.activity_task_started_event_attributes
                for prefix, ids in started_by.items():
                    if started.identity.startswith(prefix):
                        ids.add(handle.id)
                retried_waits += started.attempt >= 2
        assert len(history.events) <= MAX_HISTORY_EVENTS
    # Both processes took work from the one task queue, and the waits the killed one
    # held were resumed (retried) by the other, not restarted by their workflows.
    assert started_by[doomed.identity] and started_by[survivor.identity], started_by
    assert retried_waits >= 1

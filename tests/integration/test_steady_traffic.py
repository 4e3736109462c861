"""Steady state: with N migrations running and none starting, the worker's Nova traffic is constant.

The design (activities/observer.py): per poll interval two list calls
(``GET /os-migrations?changes-since``, ``GET /servers/detail?changes-since``)
plus at most the memory-progress budget (``GET /servers/{id}/migrations``,
:data:`DETAIL_READS_PER_SECOND` per second), whatever N. 50 live migrations run
through the session worker's real MigrateServer workflows; once every one is
running in Nova and being waited for, localnova's counters are read over three
observer ticks; then every migration is force-completed (the project's own
``force_complete`` update) and must succeed. Counts only.
"""

from __future__ import annotations

import asyncio
import math

import pytest
from temporalio.testing import WorkflowEnvironment

from localnova.harness import LocalNovaHandle
from tests.conditions import until
from tests.realstack import RunningWorker
from watcher_temporal.activities.observer import DETAIL_READS_PER_SECOND
from watcher_temporal.contract import (
    FORCE_COMPLETE_UPDATE,
    ForceCompleteResult,
    MigrateServerInput,
    MigrationStatus,
    Phase,
)
from watcher_temporal.progress import migration_progress
from watcher_temporal.starter import start_migration

pytestmark = pytest.mark.integration

RUNNING = 50
POLL = 1.0
TICKS = 3
LISTS = ("GET /v2.1/os-migrations", "GET /v2.1/servers/detail")
PROGRESS_READS = "GET /v2.1/servers/{id}/migrations"


async def test_fifty_running_migrations_cost_two_lists_per_tick_plus_the_progress_budget(
    dev_env: WorkflowEnvironment, worker: RunningWorker, localnova: LocalNovaHandle
) -> None:
    # none ends on its own while the others start; all 50 run at once (no per-host queue in Nova)
    localnova.configure(live_migration_seconds=3000, max_concurrent_live_migrations=0)
    servers = await asyncio.to_thread(localnova.boot_servers, RUNNING // 2, hosts=["host1"], name_prefix="steady-a")
    servers += await asyncio.to_thread(localnova.boot_servers, RUNNING // 2, hosts=["host2"], name_prefix="steady-b")
    handles = [
        await start_migration(
            dev_env.client,
            MigrateServerInput(
                resource_id=server_id,
                migration_type="live",
                source_node="host1" if i < RUNNING // 2 else "host2",
                destination_node="host3",
                poll_interval_seconds=POLL,
                timeout_seconds=3600,
            ),
            task_queue=worker.task_queue,
        )
        for i, server_id in enumerate(servers)
    ]

    confirmed: set[str] = set()  # waiting on a running migration: stays so for its 3,000 s
    last_seen: dict[str, tuple[str, str | None]] = {}

    async def all_running_and_waited_for() -> bool:
        for handle in handles:
            if handle.id in confirmed:
                continue
            progress = await migration_progress(dev_env.client, handle.id)
            last_seen[handle.id] = (progress.phase.value, progress.nova_migration_status)
            if progress.phase is not Phase.WAITING or progress.nova_migration_status != "running":
                return False  # one query per poll while the others start: the worker serves its tasks
            confirmed.add(handle.id)
        return True

    try:
        await until(all_running_and_waited_for, timeout=900, what=f"all {RUNNING} migrations running and waited for")
    except BaseException:
        print(f"{len(confirmed)} confirmed; last seen of the others: {last_seen}")
        raise
    localnova.reset_stats()

    def by_path() -> dict[str, int]:
        return dict(localnova.stats()["by_path_template"])

    await until(lambda: by_path().get(LISTS[1], 0) >= TICKS + 1, timeout=120, what=f"{TICKS} more observer ticks")
    counts = by_path()
    ticks = counts[LISTS[1]]  # one servers/detail list per tick
    budget = math.ceil(DETAIL_READS_PER_SECOND * POLL)
    # Each tick: one os-migrations list (the tick running at the reset may have made
    # its list before it), its progress reads, nothing per server: no GET
    # /servers/{id}, no os-migrations?instance_uuid (counted under the list's path).
    assert set(counts) <= {*LISTS, PROGRESS_READS}, counts
    assert counts.get(LISTS[0], 0) <= ticks + 1, counts
    assert counts.get(PROGRESS_READS, 0) <= budget * (ticks + 1), counts
    assert sum(counts.values()) <= (len(LISTS) + budget) * (ticks + 1), counts

    for handle in handles:
        await handle.execute_update(FORCE_COMPLETE_UPDATE, result_type=ForceCompleteResult)
    async with asyncio.timeout(600):
        results = [await handle.result() for handle in handles]
    assert [r.status for r in results] == [MigrationStatus.SUCCEEDED] * RUNNING, [r.reason for r in results]

"""A start burst does not look like a dead worker: 100 MigrateServer started at once, no failed attempt.

One ``python worker.py`` process, as an operator runs it, against localnova
(every migration of a host at once: its per-host queue off, so this measures
the worker). Every workflow of the burst is started concurrently; every one
must succeed, and every history must show each activity done in its first
attempt: no retry, no heartbeat timeout, no other timeout, no cancel nobody
asked for; the worker's log has no ``Completing activity as failed``.
``benchmarks/scale.py`` is the long version (200, 500, 1,000). Counts only.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from benchmarks.attempts import audit, worker_log_counts
from localnova.harness import LocalNovaHandle
from watcher_temporal.contract import MigrateServerInput, MigrationResult, MigrationStatus
from watcher_temporal.starter import start_migration

pytestmark = pytest.mark.integration

#: Started at once on one worker.
BURST = 100
#: Long enough that many run at once, short enough for CI.
LIVE_SECONDS = 20


async def test_a_hundred_started_at_once_on_one_worker_need_no_second_attempt(
    dev_env: WorkflowEnvironment, localnova: LocalNovaHandle, worker_process_factory: Any
) -> None:
    localnova.configure(live_migration_seconds=LIVE_SECONDS, max_concurrent_live_migrations=0)
    half = BURST // 2
    prefix = f"burst-{uuid.uuid4().hex[:4]}"
    sources = await asyncio.to_thread(localnova.boot_servers, half, hosts=["host1"], name_prefix=prefix, batch=25)
    sources += await asyncio.to_thread(localnova.boot_servers, half, hosts=["host2"], name_prefix=prefix, batch=25)
    # Batched boots land where the scheduler puts them: read each server's host.
    placed = {s.id: s.compute_host for s in localnova.conn.compute.servers(details=True, all_projects=True)}
    task_queue = f"burst-{uuid.uuid4().hex[:8]}"
    worker = worker_process_factory(task_queue)
    worker.start()
    moves = [
        MigrateServerInput(
            resource_id=server_id,
            migration_type="live",
            source_node=placed[server_id],
            destination_node="host3",
            poll_interval_seconds=5.0,
            timeout_seconds=1800,
        )
        for server_id in sources
    ]
    handles = await asyncio.gather(*(start_migration(dev_env.client, m, task_queue=task_queue) for m in moves))
    async with asyncio.timeout(900):
        results: list[MigrationResult] = await asyncio.gather(*(h.result() for h in handles))
    assert [r.status for r in results] == [MigrationStatus.SUCCEEDED] * BURST, [r.reason for r in results]

    attempts = audit([await h.fetch_history() for h in handles])
    log = worker.log_tail(10_000_000)
    assert attempts.totals() == {
        "retries": 0,
        "heartbeat_timeouts": 0,
        "other_timeouts": 0,
        "cancels_unasked": 0,
    }, f"{attempts.by_type()}\nworker log:\n{log[-4000:]}"
    assert worker_log_counts(log) == (0, 0), log[-4000:]

"""The worker process of :mod:`benchmarks.worker_memory`: real workflows, stand-in activities.

Built by :func:`watcher_temporal.worker.build_worker` with the worker's own
settings (``WorkerSettings.from_env``), so what it measures is the product's
sizing; only the Nova I/O is replaced. Each wait heartbeats every
``OBSERVER_WAKE_SECONDS`` (what an observer-fed wait does) until
``WORKER_MEMORY_HOLD`` seconds have passed.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import time

from temporalio import activity

from watcher_temporal.activities.migrate import OBSERVER_WAKE_SECONDS
from watcher_temporal.activities.nova import NovaGateway
from watcher_temporal.config import TemporalSettings, WorkerSettings, connect_client
from watcher_temporal.contract import (
    ExecuteRequest,
    ExecuteResult,
    MigrateActivity,
    MigrateServerInput,
    MigrationProgressReport,
    PostExecuteRequest,
    PreExecuteResult,
    RevertAction,
    RevertResult,
    ServerSnapshot,
    TrackedMigration,
    WaitResult,
)
from watcher_temporal.process_exit import exit_process
from watcher_temporal.process_memory import limit_malloc_arenas
from watcher_temporal.worker import build_worker

HOLD = float(os.environ.get("WORKER_MEMORY_HOLD", "120"))


def _server(params: MigrateServerInput, host: str) -> ServerSnapshot:
    return ServerSnapshot(id=params.resource_id, name="vm", status="ACTIVE", host=host)


@activity.defn(name=MigrateActivity.PRE_EXECUTE.value)
async def pre_execute(params: MigrateServerInput) -> PreExecuteResult:
    return PreExecuteResult(server=_server(params, params.source_node), baseline_migration_id=1)


@activity.defn(name=MigrateActivity.EXECUTE.value)
async def execute(request: ExecuteRequest) -> ExecuteResult:
    return ExecuteResult(migration_id="2")


@activity.defn(name=MigrateActivity.WAIT.value)
async def wait_for_migration(request: TrackedMigration) -> WaitResult:
    until = time.monotonic() + HOLD
    report = MigrationProgressReport(migration_id="2", nova_migration_status="running")
    while time.monotonic() < until:
        report = report.model_copy(update={"polls": report.polls + 1})
        activity.heartbeat(report)
        await asyncio.sleep(min(OBSERVER_WAKE_SECONDS, max(0.0, until - time.monotonic())))
    dest = request.params.destination_node or "elsewhere"
    return WaitResult(server=_server(request.params, dest), nova_migration_status="completed", polls=report.polls)


@activity.defn(name=MigrateActivity.POST_EXECUTE.value)
async def post_execute(request: PostExecuteRequest) -> ServerSnapshot:
    return _server(request.params, request.params.destination_node or "elsewhere")


@activity.defn(name=MigrateActivity.REVERT.value)
async def revert(request: TrackedMigration) -> RevertResult:
    return RevertResult(action=RevertAction.NOTHING_TO_DO)


async def main() -> None:
    settings = WorkerSettings.from_env(os.environ)
    cache = os.environ.get("WORKER_MEMORY_CACHE")
    if cache:
        settings = dataclasses.replace(settings, max_cached_workflows=int(cache))
    client = await connect_client(TemporalSettings(connect={"target_host": os.environ["WATCHER_TEMPORAL_ADDRESS"]}))
    worker = build_worker(
        client,
        task_queue="worker-memory",
        nova=NovaGateway(),  # never connected: the stand-ins make no Nova call
        settings=settings,
        activities=[pre_execute, execute, wait_for_migration, post_execute, revert],
    )
    await worker.run()


if __name__ == "__main__":
    try:
        limit_malloc_arenas(WorkerSettings.from_env(os.environ).malloc_arenas)  # as worker.py does
        asyncio.run(main())
    finally:
        exit_process(0)

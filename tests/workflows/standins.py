"""Stand-in migrate activities for workflow-branch tests.

They register under the real activity names and play a script per test, so
the workflow's decisions (skip, fail, revert, cancel) are tested against a
real Temporal server without Nova. Every call is recorded in ``calls``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from temporalio import activity

from watcher_temporal.contract import (
    DeadlineAction,
    DeadlineKind,
    DeadlineOutcome,
    ExecuteRequest,
    ExecuteResult,
    ForceCompleteRequest,
    ForceCompleteResult,
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
from watcher_temporal.errors import MigrationFailed, MigrationTimedOut, PreconditionFailed, RevertFailed

SERVER_ID = "3f0c6a1e-2b4d-4e8f-9a7b-5c6d7e8f9a0b"
SOURCE, DEST = "host1", "host2"
#: The server of the recorded ``force_complete_update`` history (replayed under its canonical id).
FORCE_COMPLETE_SERVER_ID = "5d2c9b1a-7e3f-4a6b-8c9d-0e1f2a3b4c5d"
#: The servers of the ``start_deadline_reverted`` and ``forged_progress_ignored`` histories.
START_DEADLINE_SERVER_ID = "0b6f3c2e-9a1d-4c8e-b7f5-2d4e6a8c0e1f"
FORGED_PROGRESS_SERVER_ID = "7c1e5a9b-3d2f-4e6a-8b0c-9d1e2f3a4b5c"


def server(host: str = SOURCE, status: str = "ACTIVE") -> ServerSnapshot:
    return ServerSnapshot(id=SERVER_ID, name="vm-1", status=status, host=host)


def migrate_input(**overrides: Any) -> dict[str, Any]:
    """Watcher's migrate action parameters, as plain JSON."""
    return {
        "resource_id": SERVER_ID,
        "migration_type": "live",
        "source_node": SOURCE,
        "destination_node": DEST,
        "poll_interval_seconds": 1,
    } | overrides


Behaviour = Callable[[Any], Awaitable[Any]]


async def _ok_pre(params: MigrateServerInput) -> PreExecuteResult:
    return PreExecuteResult(server=server(), baseline_migration_id=6)


async def _ok_execute(request: ExecuteRequest) -> ExecuteResult:
    return ExecuteResult(migration_id="7")


async def _ok_wait(request: TrackedMigration) -> WaitResult:
    return WaitResult(server=server(DEST), nova_migration_status="completed", polls=3)


async def _ok_post(request: PostExecuteRequest) -> ServerSnapshot:
    return server(DEST)


async def _ok_revert(request: TrackedMigration) -> RevertResult:
    return RevertResult(action=RevertAction.ABORTED, steps=["aborted live migration 7"], server=server())


async def nothing_to_revert(request: TrackedMigration) -> RevertResult:
    return RevertResult(
        action=RevertAction.NOTHING_TO_DO, steps=["nothing to revert: the server is idle on host1"], server=server()
    )


async def fail_precondition(params: MigrateServerInput) -> PreExecuteResult:
    raise PreconditionFailed("destination_node 'host2': its compute service is disabled")


async def fail_in_nova(request: TrackedMigration) -> WaitResult:
    raise MigrationFailed("Nova marked migration 7 error")


async def time_out(request: TrackedMigration) -> WaitResult:
    raise MigrationTimedOut("migration 7 still running at the deadline (1 s)")


async def stall_then_abort(request: TrackedMigration) -> WaitResult:
    """The real wait's ending at a progress deadline with ``on_timeout=abort``: the report names it."""
    outcome = DeadlineOutcome(deadline=DeadlineKind.PROGRESS, action=DeadlineAction.ABORTED, limit_seconds=30)
    report = MigrationProgressReport(migration_id="7", nova_migration_status="running", deadline=outcome)
    raise MigrationTimedOut("migration 7 running: progress deadline: ...; aborting", report)


async def _ok_force_complete(request: ForceCompleteRequest) -> ForceCompleteResult:
    return ForceCompleteResult(migration_id=request.migration_id or "7", nova_migration_status="running")


async def fail_revert(request: TrackedMigration) -> RevertResult:
    raise RevertFailed("moving the server back to 'host1' failed")


async def wait_until_cancelled(request: TrackedMigration) -> WaitResult:
    """Heartbeat with progress like the real wait, until cancelled."""
    report = MigrationProgressReport(
        migration_id="7", nova_migration_status="running", memory_total_bytes=1000, memory_remaining_bytes=400
    )
    while True:
        activity.heartbeat(report)
        await asyncio.sleep(0.2)


@dataclass
class StandInActivities:
    """Scripted activities; replace a behaviour to steer the workflow."""

    pre_execute_does: Behaviour = _ok_pre
    execute_does: Behaviour = _ok_execute
    wait_does: Behaviour = _ok_wait
    post_execute_does: Behaviour = _ok_post
    revert_does: Behaviour = _ok_revert
    force_complete_does: Behaviour = _ok_force_complete
    calls: list[str] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)

    async def _play(self, name: str, behaviour: Behaviour, arg: Any) -> Any:
        self.calls.append(name)
        try:
            return await behaviour(arg)
        except asyncio.CancelledError:
            self.cancelled.append(name)
            raise

    @activity.defn(name=MigrateActivity.PRE_EXECUTE.value)
    async def pre_execute(self, params: MigrateServerInput) -> PreExecuteResult:
        return await self._play("pre_execute", self.pre_execute_does, params)

    @activity.defn(name=MigrateActivity.EXECUTE.value)
    async def execute(self, request: ExecuteRequest) -> ExecuteResult:
        return await self._play("execute", self.execute_does, request)

    @activity.defn(name=MigrateActivity.WAIT.value)
    async def wait_for_migration(self, request: TrackedMigration) -> WaitResult:
        return await self._play("wait_for_migration", self.wait_does, request)

    @activity.defn(name=MigrateActivity.POST_EXECUTE.value)
    async def post_execute(self, request: PostExecuteRequest) -> ServerSnapshot:
        return await self._play("post_execute", self.post_execute_does, request)

    @activity.defn(name=MigrateActivity.REVERT.value)
    async def revert(self, request: TrackedMigration) -> RevertResult:
        return await self._play("revert", self.revert_does, request)

    @activity.defn(name=MigrateActivity.FORCE_COMPLETE.value)
    async def force_complete(self, request: ForceCompleteRequest) -> ForceCompleteResult:
        return await self._play("force_complete", self.force_complete_does, request)

    def all(self) -> list[Callable[..., Any]]:
        return [
            self.pre_execute,
            self.execute,
            self.wait_for_migration,
            self.post_execute,
            self.revert,
            self.force_complete,
        ]

"""The migrate activities against real Nova (localnova), one call at a time.

These pin down the idempotency promises that the workflow tests cannot see:
a second ``execute`` adopts instead of starting a second migration, ``revert``
is harmless when nothing moved, and ``wait_for_migration`` resumes from its
heartbeat details.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from temporalio.testing import ActivityEnvironment

from localnova.harness import LocalNovaHandle
from tests.conditions import until
from tests.realstack import boot_on, nova_migrations
from watcher_temporal.activities.migrate import MigrateActivities
from watcher_temporal.activities.nova import NovaGateway
from watcher_temporal.activities.observer import NovaObserver
from watcher_temporal.contract import (
    DeadlineAction,
    DeadlineKind,
    DeadlineOutcome,
    ExecuteRequest,
    ExecuteResult,
    MigrateServerInput,
    MigrationProgressReport,
    OnTimeout,
    PreExecuteResult,
    RevertAction,
    ServerSize,
    TrackedMigration,
)
from watcher_temporal.errors import MigrationTimedOut, PreconditionFailed

pytestmark = pytest.mark.integration


@pytest.fixture(params=["per-migration", "observer"])
async def acts(localnova: LocalNovaHandle, request: pytest.FixtureRequest) -> AsyncIterator[MigrateActivities]:
    """The activities polling Nova themselves, and sharing a worker's observer."""
    nova = NovaGateway(connect=localnova.connect)
    observer = NovaObserver(nova) if request.param == "observer" else None
    yield MigrateActivities(nova, observer=observer)
    if observer is not None:
        assert observer.watching == 0  # every wait unregistered, whatever its outcome
        await observer.close()
    nova.close()


def params(server_id: str, kind: str = "live", source: str = "host1", dest: str | None = "host2") -> MigrateServerInput:
    return MigrateServerInput(
        resource_id=server_id, migration_type=kind, source_node=source, destination_node=dest, poll_interval_seconds=0.2
    )


def soon(seconds: float = 60) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


async def run(
    activity: Any,
    arg: Any,
    *,
    heartbeats: list[Any] | None = None,
    details: list[Any] | None = None,
    scheduled_ago: timedelta = timedelta(0),
    budget: timedelta = timedelta(minutes=10),
) -> Any:
    """Run one activity as the worker would: scheduled ``scheduled_ago``, with ``budget`` to close."""
    env = ActivityEnvironment()
    env.info = dataclasses.replace(
        env.info, scheduled_time=datetime.now(UTC) - scheduled_ago, schedule_to_close_timeout=budget
    )
    if heartbeats is not None:
        env.on_heartbeat = lambda *d: heartbeats.append(d[0] if d else None)
    if details:
        env.info = dataclasses.replace(env.info, heartbeat_details=details, attempt=2)
    return await env.run(activity, arg)


async def started(acts: MigrateActivities, p: MigrateServerInput) -> tuple[PreExecuteResult, ExecuteResult]:
    """Run pre_execute and execute as the workflow would: the migration is under way."""
    pre = await run(acts.pre_execute, p)
    request = ExecuteRequest(params=p, original=pre.server, baseline_migration_id=pre.baseline_migration_id)
    return pre, await run(acts.execute, request)


async def test_execute_twice_adopts_the_running_migration(acts: MigrateActivities, localnova: LocalNovaHandle) -> None:
    """A retry after a lost response must not start a second migration."""
    localnova.configure(live_migration_seconds=4)
    server_id = boot_on(localnova, "host1")
    p = params(server_id)
    pre = await run(acts.pre_execute, p)
    request = ExecuteRequest(params=p, original=pre.server, baseline_migration_id=pre.baseline_migration_id)
    first = await run(acts.execute, request)
    second = await run(acts.execute, request)
    assert first.migration_id is not None and not first.adopted
    assert second.adopted and second.migration_id == first.migration_id
    assert len(nova_migrations(localnova, server_id)) == 1


async def test_execute_past_its_deadline_sends_nothing(acts: MigrateActivities, localnova: LocalNovaHandle) -> None:
    """An attempt that reaches the start after the workflow's deadline (its schedule-to-close) gives up."""
    server_id = boot_on(localnova, "host1")
    p = params(server_id)
    pre = await run(acts.pre_execute, p)
    request = ExecuteRequest(params=p, original=pre.server, baseline_migration_id=pre.baseline_migration_id)
    with pytest.raises(MigrationTimedOut) as late:
        await run(acts.execute, request, scheduled_ago=timedelta(seconds=91), budget=timedelta(seconds=90))
    assert late.value.non_retryable and "nothing was sent to Nova" in late.value.message
    assert nova_migrations(localnova, server_id) == []
    assert localnova.conn.compute.get_server(server_id).compute_host == "host1"


async def test_execute_after_the_move_finished_adopts_it(acts: MigrateActivities, localnova: LocalNovaHandle) -> None:
    server_id = boot_on(localnova, "host1")
    p = params(server_id, "cold", dest="host3")
    pre = await run(acts.pre_execute, p)
    request = ExecuteRequest(params=p, original=pre.server, baseline_migration_id=pre.baseline_migration_id)
    first = await run(acts.execute, request)
    localnova.wait_server(server_id, "VERIFY_RESIZE", host="host3")
    again = await run(acts.execute, request)
    assert again.adopted and again.already_moved and again.migration_id == first.migration_id
    assert len(nova_migrations(localnova, server_id)) == 1


async def test_revert_when_nothing_moved_does_nothing(acts: MigrateActivities, localnova: LocalNovaHandle) -> None:
    server_id = boot_on(localnova, "host1")
    p = params(server_id)
    pre = await run(acts.pre_execute, p)
    request = TrackedMigration(params=p, original=pre.server, deadline=soon())
    result = await run(acts.revert, request)
    twice = await run(acts.revert, request)
    assert result.action is twice.action is RevertAction.NOTHING_TO_DO
    assert result.server.host == "host1"
    assert nova_migrations(localnova, server_id) == []


async def test_revert_after_a_finished_live_migration_moves_the_server_back(
    acts: MigrateActivities, localnova: LocalNovaHandle
) -> None:
    server_id = boot_on(localnova, "host1")
    p = params(server_id)
    pre = await run(acts.pre_execute, p)
    localnova.conn.compute.live_migrate_server(server_id, host="host2", block_migration="auto")
    localnova.wait_server(server_id, "ACTIVE", host="host2")
    # The server is ACTIVE on host2 a moment before Nova marks its migration completed.
    await until(
        lambda: [m.status for m in nova_migrations(localnova, server_id)] == ["completed"],
        timeout=30,
        what="the forward migration is completed",
    )
    result = await run(acts.revert, TrackedMigration(params=p, original=pre.server, deadline=soon()))
    assert result.action is RevertAction.MIGRATED_BACK
    assert result.server.host == "host1"
    assert [m.status for m in nova_migrations(localnova, server_id)] == ["completed", "completed"]


async def test_revert_of_a_cold_migration_in_verify_resize_reverts_the_resize(
    acts: MigrateActivities, localnova: LocalNovaHandle
) -> None:
    server_id = boot_on(localnova, "host1")
    p = params(server_id, "cold")
    pre = await run(acts.pre_execute, p)
    localnova.conn.compute.migrate_server(server_id, host="host2")
    localnova.wait_server(server_id, "VERIFY_RESIZE")
    result = await run(acts.revert, TrackedMigration(params=p, original=pre.server, deadline=soon()))
    assert result.action is RevertAction.RESIZE_REVERTED
    assert (result.server.host, result.server.status) == ("host1", "ACTIVE")
    assert [m.status for m in nova_migrations(localnova, server_id)] == ["reverted"]


async def test_wait_resumes_from_its_heartbeat_details(acts: MigrateActivities, localnova: LocalNovaHandle) -> None:
    localnova.configure(live_migration_seconds=2)
    server_id = boot_on(localnova, "host1")
    p = params(server_id)
    pre, executed = await started(acts, p)
    earlier = MigrationProgressReport(migration_id=executed.migration_id, polls=41, nova_migration_status="running")
    heartbeats: list[Any] = []
    request = TrackedMigration(
        params=p,
        original=pre.server,
        migration_id=executed.migration_id,
        baseline_migration_id=pre.baseline_migration_id,
        deadline=soon(),
    )
    result = await run(
        acts.wait_for_migration, request, heartbeats=heartbeats, details=[earlier.model_dump(mode="json")]
    )
    assert result.server.host == "host2"
    assert result.polls > 41  # counted on from the details, not from zero
    assert heartbeats[0].polls == 42 and heartbeats[0].attempt == 2
    assert any(h.memory_remaining_bytes for h in heartbeats)  # progress from the migration record


async def test_wait_gives_up_at_its_deadline(acts: MigrateActivities, localnova: LocalNovaHandle) -> None:
    localnova.configure(live_migration_seconds=30)
    server_id = boot_on(localnova, "host1")
    p = params(server_id)
    pre, executed = await started(acts, p)
    request = TrackedMigration(params=p, original=pre.server, migration_id=executed.migration_id, deadline=soon(1))
    with pytest.raises(MigrationTimedOut) as timed_out:
        await run(acts.wait_for_migration, request)
    assert timed_out.value.non_retryable
    assert "at the deadline" in timed_out.value.message
    # Leave the cloud clean for the next test: abort what we started.
    await run(acts.revert, TrackedMigration(params=p, original=pre.server, deadline=soon()))


async def test_pre_execute_refuses_a_server_with_a_task_in_progress(
    acts: MigrateActivities, localnova: LocalNovaHandle
) -> None:
    localnova.configure(live_migration_seconds=3)
    server_id = boot_on(localnova, "host1")
    localnova.conn.compute.live_migrate_server(server_id, host="host3", block_migration="auto")
    with pytest.raises(PreconditionFailed, match="task in progress: task_state=migrating"):
        await run(acts.pre_execute, params(server_id))


async def test_pre_execute_reads_the_size_a_live_migration_moves(
    acts: MigrateActivities, localnova: LocalNovaHandle
) -> None:
    server_id = boot_on(localnova, "host1")
    flavor = localnova.conn.compute.get_server(server_id).flavor
    pre = await run(acts.pre_execute, params(server_id))
    assert pre.size == ServerSize(memory_mib=flavor.ram, disk_gib=flavor.disk + (flavor.ephemeral or 0))
    assert (await run(acts.pre_execute, params(server_id, kind="cold"))).size is None


async def test_wait_resumed_after_a_force_complete_never_asks_nova_again(
    acts: MigrateActivities, localnova: LocalNovaHandle
) -> None:
    server_id = boot_on(localnova, "host1")
    localnova.configure(live_migration_seconds=1, live_migration_stall_servers=[server_id])
    p = params(server_id).model_copy(
        update={"progress_timeout_seconds": 1.0, "on_timeout": OnTimeout.FORCE_COMPLETE, "timeout_seconds": 4.0}
    )
    pre, executed = await started(acts, p)
    # An earlier attempt force-completed at the progress deadline (recorded in its details) and died.
    earlier = MigrationProgressReport(migration_id=executed.migration_id, force_completed_at=DeadlineKind.PROGRESS)
    request = TrackedMigration(
        params=p,
        original=pre.server,
        migration_id=executed.migration_id,
        baseline_migration_id=pre.baseline_migration_id,
        deadline=soon(4),
        size=pre.size,
    )
    with pytest.raises(MigrationTimedOut) as timed_out:
        await run(acts.wait_for_migration, request, details=[earlier.model_dump(mode="json")])
    # The stalled copy was not force-completed again: timeout_seconds fired and names the earlier deadline.
    [report] = timed_out.value.details
    assert report.deadline == DeadlineOutcome(
        deadline=DeadlineKind.TIMEOUT,
        action=DeadlineAction.ABORTED,
        limit_seconds=4.0,
        force_completed_at=DeadlineKind.PROGRESS,
    )
    assert "force-completed at the progress deadline" in timed_out.value.message
    [running] = localnova.conn.compute.server_migrations(server_id)
    assert running.status == "running"  # still stalled: nobody force-completed it
    await run(acts.revert, TrackedMigration(params=p, original=pre.server, deadline=soon()))

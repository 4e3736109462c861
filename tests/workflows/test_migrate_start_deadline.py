"""``timeout_seconds`` bounds the whole migration from its start, the attempts to start it too.

Time-skipping server with stand-in activities: Nova answering 500 to every
start is ``NovaUnavailable`` from execute, retried with back-off; the
operator's deadline, not execute's 10-minute retry budget, must end it.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest
from temporalio import activity
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from tests.workflows import standins
from tests.workflows.standins import StandInActivities, migrate_input
from tests.workflows.test_migrate_server import fresh_input, record, running_worker, start
from watcher_temporal.contract import (
    ExecuteRequest,
    ExecuteResult,
    MigrateServerInput,
    MigrationResult,
    MigrationStatus,
    PreExecuteResult,
    RevertAction,
    TrackedMigration,
    WaitResult,
)
from watcher_temporal.errors import MigrationTimedOut, NovaUnavailable


class AlwaysFiveHundred:
    """execute as it behaves when Nova answers every POST with HTTP 500; keeps each attempt's start time."""

    def __init__(self) -> None:
        self.attempts: list[datetime] = []

    async def __call__(self, request: ExecuteRequest) -> ExecuteResult:
        self.attempts.append(activity.info().started_time)
        raise NovaUnavailable("live-migrate server: Nova answered 500: Unexpected API Error")


async def test_a_start_nova_refuses_with_500s_ends_by_timeout_seconds_and_names_them(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    execute = AlwaysFiveHundred()
    acts = StandInActivities(execute_does=execute, revert_does=standins.nothing_to_revert)
    async with running_worker(time_skipping_env, acts) as tq:
        handle = await start(
            time_skipping_env, tq, migrate_input(resource_id=standins.START_DEADLINE_SERVER_ID, timeout_seconds=90)
        )
        result: MigrationResult = await handle.result()
        started = (await handle.describe()).start_time
        await record(handle, "start_deadline_reverted")
    assert result.status is MigrationStatus.REVERTED, result.reason
    assert "timeout_seconds (90 s) passed before Nova accepted the migration" in result.reason
    assert "Nova answered 500" in result.reason
    assert result.revert is not None and result.revert.action is RevertAction.NOTHING_TO_DO
    assert acts.calls[0] == "pre_execute" and acts.calls[-1] == "revert"
    assert "wait_for_migration" not in acts.calls
    assert len(execute.attempts) >= 3  # retried while time was left ...
    assert all(at < started + timedelta(seconds=90) for at in execute.attempts)  # ... never after
    # Ended at the deadline, not after execute's 10-minute retry budget.
    assert result.timings.seconds <= 90 + 1


async def test_checks_that_use_up_timeout_seconds_fail_without_starting(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    async def nova_down(params: MigrateServerInput) -> PreExecuteResult:
        raise NovaUnavailable("get server: Nova answered 503: Service Unavailable")

    acts = StandInActivities(pre_execute_does=nova_down)
    async with running_worker(time_skipping_env, acts) as tq:
        handle = await start(time_skipping_env, tq, fresh_input(timeout_seconds=30))
        with pytest.raises(WorkflowFailureError) as failure:
            await handle.result()
    cause = failure.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.type == "MigrationTimedOut" and cause.non_retryable
    assert "timeout_seconds (30 s) passed before the migration started" in cause.message
    assert "503" in cause.message
    assert set(acts.calls) == {"pre_execute"}  # nothing was ever sent


async def test_the_wait_gets_what_is_left_of_timeout_seconds(time_skipping_env: WorkflowEnvironment) -> None:
    waited: list[TrackedMigration] = []

    async def slow_checks(params: MigrateServerInput) -> PreExecuteResult:
        for _ in range(20):  # 20 s of heartbeating checks (skipped by the test server)
            activity.heartbeat()
            await asyncio.sleep(1)
        return PreExecuteResult(server=standins.server(), baseline_migration_id=6)

    async def wait(request: TrackedMigration) -> WaitResult:
        waited.append(request)
        return WaitResult(server=standins.server(standins.DEST), nova_migration_status="completed", polls=1)

    acts = StandInActivities(pre_execute_does=slow_checks, wait_does=wait)
    async with running_worker(time_skipping_env, acts) as tq:
        handle = await start(time_skipping_env, tq, fresh_input(timeout_seconds=300))
        result: MigrationResult = await handle.result()
        started = (await handle.describe()).start_time
    assert result.status is MigrationStatus.SUCCEEDED
    [request] = waited
    # The deadline counts from the migration's start, not from execute's end.
    assert abs((request.deadline - (started + timedelta(seconds=300))).total_seconds()) < 1


async def test_an_attempt_that_refuses_to_start_late_is_reported_as_the_deadline(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    async def too_late(request: ExecuteRequest) -> ExecuteResult:
        raise MigrationTimedOut("not started: the deadline to start the live migration passed; nothing was sent")

    acts = StandInActivities(execute_does=too_late, revert_does=standins.nothing_to_revert)
    async with running_worker(time_skipping_env, acts) as tq:
        handle = await start(time_skipping_env, tq, fresh_input(timeout_seconds=60))
        result: MigrationResult = await handle.result()
    assert result.status is MigrationStatus.REVERTED
    assert result.reason.startswith("timeout_seconds (60 s) passed before Nova accepted the migration")
    assert acts.calls == ["pre_execute", "execute", "revert"]  # non-retryable: one attempt

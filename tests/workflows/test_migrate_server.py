"""MigrateServer's branches on Temporal's time-skipping server, with stand-in activities.

Run with ``WATCHER_TEMPORAL_RECORD_HISTORIES=1`` to (re)write the histories
under ``histories/`` that ``test_replay.py`` replays.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio import activity
from temporalio.client import WorkflowFailureError, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError, CancelledError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from tests.conditions import until
from tests.workflows import standins
from tests.workflows.standins import DEST, SOURCE, StandInActivities, migrate_input
from watcher_temporal.contract import (
    FORCE_COMPLETE_UPDATE,
    MAX_FORCE_COMPLETES,
    DeadlineAction,
    DeadlineKind,
    ForceCompleteResult,
    MigrateServerInput,
    MigrationProgress,
    MigrationResult,
    MigrationStatus,
    Phase,
    RevertAction,
    migration_workflow_id,
)
from watcher_temporal.errors import MigrationAlreadyRunning
from watcher_temporal.progress import migration_progress
from watcher_temporal.search_attributes import OUTCOME
from watcher_temporal.starter import start_migration
from watcher_temporal.workflows.migrate_server import MigrateServer

HISTORIES = Path(__file__).parent / "histories"
#: As the real worker: heartbeats (and so cancels) reach the server within a second.
HEARTBEAT_THROTTLE = timedelta(seconds=1)


@asynccontextmanager
async def running_worker(env: WorkflowEnvironment, activities: StandInActivities) -> AsyncIterator[str]:
    task_queue = f"tq-{uuid.uuid4()}"
    async with Worker(
        env.client,
        task_queue=task_queue,
        workflows=[MigrateServer],
        activities=activities.all(),
        max_heartbeat_throttle_interval=HEARTBEAT_THROTTLE,
        default_heartbeat_throttle_interval=HEARTBEAT_THROTTLE,
    ):
        yield task_queue


async def start(env: WorkflowEnvironment, task_queue: str, payload: Any) -> WorkflowHandle[Any, Any]:
    """Start with raw JSON input, as the ``temporal`` CLI would."""
    server_id = payload.get("resource_id") if isinstance(payload, dict) else None
    try:
        workflow_id = migration_workflow_id(str(server_id))
    except ValueError:  # bad input: the workflow refuses it before looking at its id
        workflow_id = f"migrate-bad-input-{uuid.uuid4().hex[:6]}"
    return await env.client.start_workflow(
        "MigrateServer",
        payload,
        id=workflow_id,
        task_queue=task_queue,
        result_type=MigrationResult,
    )


async def record(handle: WorkflowHandle[Any, Any], name: str) -> None:
    if os.environ.get("WATCHER_TEMPORAL_RECORD_HISTORIES"):
        history = await handle.fetch_history()
        (HISTORIES / f"{name}.json").write_text(history.to_json())


def fresh_input(**overrides: Any) -> dict[str, Any]:
    return migrate_input(resource_id=str(uuid.uuid4()), **overrides)


async def test_success_runs_the_four_steps_in_order(time_skipping_env: WorkflowEnvironment) -> None:
    acts = StandInActivities()
    async with running_worker(time_skipping_env, acts) as tq:
        handle = await start(time_skipping_env, tq, fresh_input())
        result: MigrationResult = await handle.result()
        await record(handle, "live_success")
    assert result.status is MigrationStatus.SUCCEEDED
    assert result.final_host == DEST
    assert result.migration_id == "7"
    assert result.revert is None
    assert acts.calls == ["pre_execute", "execute", "wait_for_migration", "post_execute"]
    assert set(result.timings.phases) >= {"pre_execute", "execute", "waiting", "post_execute"}


async def test_skip_changes_nothing(time_skipping_env: WorkflowEnvironment) -> None:
    async def not_on_source(params: MigrateServerInput) -> standins.PreExecuteResult:
        return standins.PreExecuteResult(
            server=standins.server("host9"), skip_reason="server is on 'host9', not on source_node 'host1'"
        )

    acts = StandInActivities(pre_execute_does=not_on_source)
    async with running_worker(time_skipping_env, acts) as tq:
        handle = await start(time_skipping_env, tq, fresh_input())
        result: MigrationResult = await handle.result()
        await record(handle, "skipped")
    assert result.status is MigrationStatus.SKIPPED
    assert "not on source_node" in result.reason
    assert acts.calls == ["pre_execute"]


@pytest.mark.parametrize(
    "reason",
    [
        "destination_node 'host9' is not a nova-compute host of this cloud",
        "destination_node 'host2': its compute service is disabled (maintenance)",
        "destination_node 'host2': its compute service is down",
        "live migration needs an ACTIVE server; its status is SHUTOFF",
        "server has a task in progress: task_state=image_snapshot",
        "naming destination_node needs compute API microversion >= 2.56; this cloud offers up to 2.53",
    ],
)
async def test_each_precondition_failure_fails_the_workflow_before_execute(
    time_skipping_env: WorkflowEnvironment, reason: str
) -> None:
    async def refuse(params: MigrateServerInput) -> standins.PreExecuteResult:
        raise standins.PreconditionFailed(reason)

    acts = StandInActivities(pre_execute_does=refuse)
    async with running_worker(time_skipping_env, acts) as tq:
        handle = await start(time_skipping_env, tq, fresh_input())
        with pytest.raises(WorkflowFailureError) as failure:
            await handle.result()
    cause = failure.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.type == "PreconditionFailed"
    assert cause.message == reason
    assert cause.non_retryable
    assert acts.calls == ["pre_execute"]  # retried never, executed never


@pytest.mark.parametrize(
    ("payload", "fields"),
    [
        (migrate_input(resource_id="not-a-uuid"), ["resource_id"]),
        (migrate_input(migration_type="warp"), ["migration_type"]),
        (migrate_input(source_node=""), ["source_node"]),
        (migrate_input(destination_node=""), ["destination_node"]),
        (migrate_input(destination_node=SOURCE), ["(input)"]),
        (migrate_input(flavor="m1.small"), ["flavor"]),
        (
            migrate_input(resource_id="x", migration_type="warp", source_node=" "),
            ["resource_id", "migration_type", "source_node"],
        ),
        ({"resource_id": str(uuid.uuid4())}, ["migration_type", "source_node"]),
        ("migrate please", ["(input)"]),
    ],
)
async def test_invalid_input_fails_at_once_naming_every_field(
    time_skipping_env: WorkflowEnvironment, payload: Any, fields: list[str]
) -> None:
    acts = StandInActivities()
    async with running_worker(time_skipping_env, acts) as tq:
        handle = await start(time_skipping_env, tq, payload)
        with pytest.raises(WorkflowFailureError) as failure:
            await handle.result()
    cause = failure.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.type == "InvalidInput"
    assert cause.non_retryable
    named = [problem["field"] for problem in cause.details[0]]
    assert named == fields
    for field in fields:
        assert field in cause.message
    assert acts.calls == []  # no Nova call at all


async def test_nova_failure_after_execute_reverts(time_skipping_env: WorkflowEnvironment) -> None:
    acts = StandInActivities(wait_does=standins.fail_in_nova)
    async with running_worker(time_skipping_env, acts) as tq:
        handle = await start(time_skipping_env, tq, fresh_input())
        result: MigrationResult = await handle.result()
        await record(handle, "nova_failure_reverted")
    assert result.status is MigrationStatus.REVERTED
    assert "MigrationFailed: Nova marked migration 7 error" in result.reason
    assert result.revert is not None and result.revert.action is RevertAction.ABORTED
    assert result.final_host == SOURCE
    assert acts.calls == ["pre_execute", "execute", "wait_for_migration", "revert"]


async def test_post_execute_failure_reverts(time_skipping_env: WorkflowEnvironment) -> None:
    async def wrong_host(request: Any) -> Any:
        raise standins.MigrationFailed("end state check failed: server is on 'host3', expected 'host2'")

    acts = StandInActivities(post_execute_does=wrong_host)
    async with running_worker(time_skipping_env, acts) as tq:
        result: MigrationResult = await (await start(time_skipping_env, tq, fresh_input())).result()
    assert result.status is MigrationStatus.REVERTED
    assert acts.calls[-2:] == ["post_execute", "revert"]


async def test_poll_timeout_reverts(time_skipping_env: WorkflowEnvironment) -> None:
    acts = StandInActivities(wait_does=standins.time_out)
    async with running_worker(time_skipping_env, acts) as tq:
        result: MigrationResult = await (await start(time_skipping_env, tq, fresh_input(timeout_seconds=1))).result()
    assert result.status is MigrationStatus.REVERTED
    assert "MigrationTimedOut" in result.reason
    assert acts.calls[-1] == "revert"


async def test_lost_worker_during_wait_times_out_on_heartbeat_and_reverts(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    """A wait that stops heartbeating (its worker hung) is timed out by Temporal and reverted."""
    attempts = 0

    async def hang_once(request: Any) -> Any:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            await asyncio.Event().wait()  # never heartbeats
        raise standins.MigrationFailed("the retry found the migration failed")

    acts = StandInActivities(wait_does=hang_once)
    async with running_worker(time_skipping_env, acts) as tq:
        result: MigrationResult = await (await start(time_skipping_env, tq, fresh_input())).result()
    assert attempts == 2  # retried after the heartbeat timeout, not abandoned
    assert result.status is MigrationStatus.REVERTED
    assert "the retry found the migration failed" in result.reason


async def test_revert_failure_names_both_causes(time_skipping_env: WorkflowEnvironment) -> None:
    acts = StandInActivities(wait_does=standins.fail_in_nova, revert_does=standins.fail_revert)
    async with running_worker(time_skipping_env, acts) as tq:
        handle = await start(time_skipping_env, tq, fresh_input())
        with pytest.raises(WorkflowFailureError) as failure:
            await handle.result()
        await record(handle, "revert_failed")
    cause = failure.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.type == "RevertFailed"
    assert "Nova marked migration 7 error" in cause.message
    assert "moving the server back to 'host1' failed" in cause.message


async def test_cancel_aborts_the_wait_and_reverts_then_reports_cancelled(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    acts = StandInActivities(wait_does=standins.wait_until_cancelled)
    async with running_worker(time_skipping_env, acts) as tq:
        handle = await start(time_skipping_env, tq, fresh_input())

        async def waiting_with_progress() -> bool:
            progress = await migration_progress(time_skipping_env.client, handle.id)  # the wait's heartbeat
            return progress.phase is Phase.WAITING and progress.memory_remaining_bytes == 400

        await until(waiting_with_progress, timeout=10, what="the workflow waits with progress")
        await handle.cancel()
        with pytest.raises(WorkflowFailureError) as failure:
            await handle.result()
        progress = await handle.query("progress", result_type=MigrationProgress)
        await record(handle, "cancelled_reverted")
    assert isinstance(failure.value.cause, CancelledError)
    assert acts.calls == ["pre_execute", "execute", "wait_for_migration", "revert"]
    assert progress.revert is not None and progress.revert.steps == ["aborted live migration 7"]
    assert progress.attempts["migrate.wait_for_migration"] == 1
    await until(lambda: acts.cancelled == ["wait_for_migration"], timeout=10, what="the wait saw its cancellation")


async def test_cancel_before_execute_cancels_without_reverting(time_skipping_env: WorkflowEnvironment) -> None:
    started = asyncio.Event()

    async def slow_checks(params: MigrateServerInput) -> standins.PreExecuteResult:
        started.set()
        while True:
            activity.heartbeat()
            await asyncio.sleep(0.1)

    acts = StandInActivities(pre_execute_does=slow_checks)
    async with running_worker(time_skipping_env, acts) as tq:
        handle = await start(time_skipping_env, tq, fresh_input())
        await until(started.is_set, timeout=10, what="pre_execute runs")
        await handle.cancel()
        with pytest.raises(WorkflowFailureError) as failure:
            await handle.result()
    assert isinstance(failure.value.cause, CancelledError)
    assert acts.calls == ["pre_execute"]  # nothing started in Nova, so nothing to revert


async def test_second_start_for_the_same_server_is_refused(time_skipping_env: WorkflowEnvironment) -> None:
    acts = StandInActivities(wait_does=standins.wait_until_cancelled)
    params = MigrateServerInput.model_validate(fresh_input())
    async with running_worker(time_skipping_env, acts) as tq:
        first = await start_migration(time_skipping_env.client, params, task_queue=tq)
        assert first.id == migration_workflow_id(params.resource_id) == f"migrate-{params.resource_id}"
        with pytest.raises(MigrationAlreadyRunning) as refused:
            await start_migration(time_skipping_env.client, params, task_queue=tq)
        assert refused.value.workflow_id == first.id
        assert "already running" in str(refused.value)
        # Cancel once it waits on Nova (Temporal's time-skipping test server mishandles
        # a cancel racing the completion of a short activity: ACTIVITY_UNKNOWN).
        await until(lambda: "wait_for_migration" in acts.calls, timeout=10, what="the wait runs")
        await first.cancel()
        with pytest.raises(WorkflowFailureError):
            await first.result()
        # Once it has ended, the server may be migrated again under the same id.
        acts.wait_does = standins._ok_wait
        again = await start_migration(time_skipping_env.client, params, task_queue=tq)
        assert (await again.result()).status is MigrationStatus.SUCCEEDED


async def test_scheduler_choice_success_reports_the_host_nova_chose(time_skipping_env: WorkflowEnvironment) -> None:
    async def landed_on_host3(request: Any) -> standins.ServerSnapshot:
        return standins.server("host3")

    acts = StandInActivities(post_execute_does=landed_on_host3)
    async with running_worker(time_skipping_env, acts) as tq:
        handle = await start(time_skipping_env, tq, fresh_input(destination_node=None, migration_type="cold"))
        result: MigrationResult = await handle.result()
        await record(handle, "cold_scheduler_success")
    assert result.status is MigrationStatus.SUCCEEDED
    assert result.destination_node is None
    assert result.final_host == "host3"


@pytest.mark.parametrize(
    ("args", "field"),
    [([], "(input)"), ([fresh_input(), {"extra": 1}], "(arguments)")],
    ids=["no input", "two inputs"],
)
async def test_wrong_argument_count_fails_at_once(
    time_skipping_env: WorkflowEnvironment, args: list[Any], field: str
) -> None:
    acts = StandInActivities()
    async with running_worker(time_skipping_env, acts) as tq:
        handle = await time_skipping_env.client.start_workflow(
            "MigrateServer", args=args, id=f"migrate-args-{uuid.uuid4().hex[:8]}", task_queue=tq
        )
        with pytest.raises(WorkflowFailureError) as failure:
            await handle.result()
    cause = failure.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "InvalidInput" and cause.non_retryable
    assert [p["field"] for p in cause.details[0]] == [field]
    assert acts.calls == []


async def test_a_migration_runs_only_under_its_canonical_id(time_skipping_env: WorkflowEnvironment) -> None:
    """migrate-<UPPER-CASE uuid> (or any other id) is refused, so one server never has two migrations."""
    acts = StandInActivities()
    payload = fresh_input()
    async with running_worker(time_skipping_env, acts) as tq:
        handle = await time_skipping_env.client.start_workflow(
            "MigrateServer", payload, id=f"migrate-{payload['resource_id'].upper()}", task_queue=tq
        )
        with pytest.raises(WorkflowFailureError) as failure:
            await handle.result()
    cause = failure.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "InvalidInput"
    assert f"migrate-{payload['resource_id']}" in cause.message
    assert acts.calls == []  # refused before any Nova call


async def test_every_ending_sets_the_outcome_search_attribute(time_skipping_env: WorkflowEnvironment) -> None:
    endings = {
        "SUCCEEDED": StandInActivities(),
        "REVERTED": StandInActivities(wait_does=standins.fail_in_nova),
        "FAILED": StandInActivities(pre_execute_does=standins.fail_precondition),
    }
    for outcome, acts in endings.items():
        async with running_worker(time_skipping_env, acts) as tq:
            handle = await start(time_skipping_env, tq, fresh_input())
            with contextlib.suppress(WorkflowFailureError):
                await handle.result()
        described = await handle.describe()
        assert described.typed_search_attributes.get(OUTCOME) == outcome


async def test_force_complete_update_runs_while_waiting_and_is_bounded(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    acts = StandInActivities(wait_does=standins.wait_until_cancelled)
    async with running_worker(time_skipping_env, acts) as tq:
        handle = await start(time_skipping_env, tq, migrate_input(resource_id=standins.FORCE_COMPLETE_SERVER_ID))

        async def waiting() -> bool:
            progress = await handle.query("progress", result_type=MigrationProgress)
            return progress.phase is Phase.WAITING

        await until(waiting, timeout=10, what="the workflow waits")
        answers = [
            await handle.execute_update(FORCE_COMPLETE_UPDATE, result_type=ForceCompleteResult)
            for _ in range(MAX_FORCE_COMPLETES)
        ]
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update(FORCE_COMPLETE_UPDATE, result_type=ForceCompleteResult)
        await record(handle, "force_complete_update")
        await handle.cancel()
        with pytest.raises(WorkflowFailureError):
            await handle.result()
    assert [a.force_completes for a in answers] == [1, 2, 3]
    assert {a.migration_id for a in answers} == {"7"}  # the migration execute reported
    cause = refused.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "InvalidInput"
    assert f"at most {MAX_FORCE_COMPLETES}" in cause.message
    assert acts.calls.count("force_complete") == MAX_FORCE_COMPLETES  # the refused one never ran


async def test_force_complete_update_is_refused_before_the_wait(time_skipping_env: WorkflowEnvironment) -> None:
    started = asyncio.Event()

    async def slow_checks(params: MigrateServerInput) -> standins.PreExecuteResult:
        started.set()
        while True:
            activity.heartbeat()
            await asyncio.sleep(0.1)

    acts = StandInActivities(pre_execute_does=slow_checks)
    async with running_worker(time_skipping_env, acts) as tq:
        handle = await start(time_skipping_env, tq, fresh_input())
        await until(started.is_set, timeout=10, what="pre_execute runs")
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update(FORCE_COMPLETE_UPDATE, result_type=ForceCompleteResult)
        await handle.cancel()
        with pytest.raises(WorkflowFailureError):
            await handle.result()
    cause = refused.value.cause
    assert isinstance(cause, ApplicationError) and "phase pre_execute" in cause.message
    assert "force_complete" not in acts.calls


async def test_a_fired_deadline_is_named_in_the_reverted_result(time_skipping_env: WorkflowEnvironment) -> None:
    acts = StandInActivities(wait_does=standins.stall_then_abort)
    async with running_worker(time_skipping_env, acts) as tq:
        handle = await start(time_skipping_env, tq, fresh_input(progress_timeout_seconds=30))
        result: MigrationResult = await handle.result()
    assert result.status is MigrationStatus.REVERTED
    assert result.deadline is not None
    assert (result.deadline.deadline, result.deadline.action) == (DeadlineKind.PROGRESS, DeadlineAction.ABORTED)
    assert "MigrationTimedOut" in result.reason and "progress deadline" in result.reason

"""MaintenancePlan's scheduling and policies on the time-skipping server.

Migrations run as :class:`~tests.workflows.plan_standins.StandInMigrateServer`
children whose durations are timers (skipped by the test server), so a plan of
hours runs in seconds while the recorder sees the real concurrency.

Run with ``WATCHER_TEMPORAL_RECORD_HISTORIES=1`` to (re)write the
``histories/plan_*.json`` files that ``test_replay.py`` replays.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import pytest
from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowFailureError, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError, CancelledError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from tests.conditions import until
from tests.workflows.plan_standins import PRECONDITION, REVERTED, SKIP, PlanRecorder, StandInMigrateServer
from tests.workflows.test_migrate_server import record
from watcher_temporal.activities.plan_children import PlanChildActivities
from watcher_temporal.contract import (
    SET_LIMITS_UPDATE,
    SET_MAX_PARALLEL_UPDATE,
    STATUS_QUERY,
    ActionState,
    PlanActivity,
    PlanState,
    PlanStatus,
    RevertAction,
    RevertOutcome,
    ServiceState,
)
from watcher_temporal.contract.durations import SizesRequest, SizesResult
from watcher_temporal.contract.patches import LOAD_IN_STEPS_PATCH
from watcher_temporal.search_attributes import PLAN_ID
from watcher_temporal.workflows.maintenance_plan import MaintenancePlan
from watcher_temporal.workflows.plan_actions import START_BATCH
from watcher_temporal.workflows.plan_ordered_window import LOAD_PAUSE, LOAD_STEP_MIN_ACTIONS


@asynccontextmanager
async def plan_worker(env: WorkflowEnvironment, recorder: PlanRecorder) -> AsyncIterator[str]:
    task_queue = f"tq-{uuid.uuid4()}"
    async with Worker(
        env.client,
        task_queue=task_queue,
        workflows=[MaintenancePlan, StandInMigrateServer],
        activities=[*recorder.all(), *PlanChildActivities(env.client).all()],
    ):
        yield task_queue


async def start_plan(env: WorkflowEnvironment, task_queue: str, plan: dict[str, Any]) -> WorkflowHandle[Any, Any]:
    return await env.client.start_workflow(
        "MaintenancePlan", plan, id=f"plan-{uuid.uuid4()}", task_queue=task_queue, result_type=PlanStatus
    )


async def status_of(handle: WorkflowHandle[Any, Any]) -> PlanStatus:
    return await handle.query(STATUS_QUERY, result_type=PlanStatus)


def migrate(action_id: str, server: str, source: str, dest: str | None, *parents: str, **extra: Any) -> dict[str, Any]:
    params: dict[str, Any] = {"resource_id": server, "migration_type": "live", "source_node": source}
    if dest:
        params["destination_node"] = dest
    return {
        "id": action_id,
        "action_type": "migrate",
        "input_parameters": params | extra,
        "parents": list(parents),
    }


def service(action_id: str, host: str, state: str, *parents: str) -> dict[str, Any]:
    params = {"resource_name": host, "state": state}
    if state == "disabled":
        params["disabled_reason"] = "watcher_maintaining"
    return {
        "id": action_id,
        "action_type": "change_nova_service_state",
        "input_parameters": params,
        "parents": list(parents),
    }


def states(status: PlanStatus) -> dict[str, ActionState]:
    return {a.id: a.state for a in status.actions}


async def test_window_limits_are_never_exceeded_and_parents_come_first(time_skipping_env: WorkflowEnvironment) -> None:
    rec = PlanRecorder()
    hosts = ["h1", "h2", "h3", "h4"]
    actions = [service("disable-h1", "h1", "disabled")]
    for i in range(16):
        src, dst = hosts[i % 4], hosts[(i + 1) % 4]
        parents = ["disable-h1"] if src == "h1" else []
        if i >= 12:
            parents.append(f"m{i - 12}")  # a second wave depending on the first migrations
        actions.append(migrate(f"m{i}", rec.server(seconds=30 + 45 * (i % 5)), src, dst, *parents))
    plan = {"actions": actions, "max_parallel": 4, "max_parallel_per_host": 2, "on_failure": "stop"}
    async with plan_worker(time_skipping_env, rec) as tq:
        handle = await start_plan(time_skipping_env, tq, plan)
        result: PlanStatus = await handle.result()
        await record(handle, "plan_window_success")
    assert result.state is PlanState.SUCCEEDED
    assert result.counts["SUCCEEDED"] == 17
    assert rec.max_running == 4  # reached, never exceeded
    assert max(rec.max_host_load.values()) == 2
    ids = {a["id"]: a["input_parameters"].get("resource_id") for a in actions}
    for action in actions:
        for parent in action["parents"]:
            if ids[parent]:
                assert rec.left[ids[parent]] < rec.entered[ids[action["id"]]], (parent, action["id"])
    assert all(a.workflow_id == f"migrate-{ids[a.id]}" for a in result.actions if a.id.startswith("m"))
    # The plan and each of its migrations are found by the plan id.
    child = time_skipping_env.client.get_workflow_handle(f"migrate-{ids['m0']}")
    assert (await child.describe()).typed_search_attributes.get(PLAN_ID) == handle.id
    assert (await handle.describe()).typed_search_attributes.get(PLAN_ID) == handle.id


async def test_a_slow_migration_holds_one_slot_not_a_layer(time_skipping_env: WorkflowEnvironment) -> None:
    rec = PlanRecorder()
    slow = rec.server(seconds=3600)
    quick = [rec.server(seconds=60) for _ in range(6)]
    actions = [migrate("slow", slow, "h1", "h2")] + [
        migrate(f"q{i}", server, f"h{3 + i}", f"h{10 + i}") for i, server in enumerate(quick)
    ]
    async with plan_worker(time_skipping_env, rec) as tq:
        handle = await start_plan(time_skipping_env, tq, {"actions": actions, "max_parallel": 2})
        result: PlanStatus = await handle.result()
    assert result.state is PlanState.SUCCEEDED
    # Every quick migration started and ended while the slow one ran.
    assert all(rec.left[q] < rec.left[slow] for q in quick)


async def test_continue_policy_runs_what_does_not_depend_on_the_failure(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    rec = PlanRecorder()
    bad, child, other, skipped = rec.server(outcome=REVERTED), rec.server(), rec.server(), rec.server(outcome=SKIP)
    actions = [
        migrate("bad", bad, "h1", "h2"),
        migrate("child", child, "h1", "h2", "bad"),
        {"id": "grandchild", "action_type": "nop", "input_parameters": {"message": "after"}, "parents": ["child"]},
        migrate("other", other, "h3", "h4"),
        migrate("skipped", skipped, "h3", "h4"),
    ]
    async with plan_worker(time_skipping_env, rec) as tq:
        handle = await start_plan(time_skipping_env, tq, {"actions": actions, "on_failure": "continue"})
        result: PlanStatus = await handle.result()
        await record(handle, "plan_continue_failed")
    assert result.state is PlanState.FAILED
    assert states(result) == {
        "bad": ActionState.FAILED,
        "child": ActionState.CANCELLED,
        "grandchild": ActionState.CANCELLED,
        "other": ActionState.SUCCEEDED,
        "skipped": ActionState.SKIPPED,
    }
    assert "parent 'bad' is FAILED" in {a.id: a for a in result.actions}["child"].reason
    assert child not in rec.entered


async def test_stop_policy_starts_nothing_after_a_failure(time_skipping_env: WorkflowEnvironment) -> None:
    rec = PlanRecorder()
    first = rec.server(outcome=PRECONDITION)
    later = [rec.server() for _ in range(3)]
    actions = [migrate("first", first, "h1", "h2")] + [migrate(f"later{i}", s, "h1", "h2") for i, s in enumerate(later)]
    async with plan_worker(time_skipping_env, rec) as tq:
        handle = await start_plan(time_skipping_env, tq, {"actions": actions, "max_parallel": 1, "on_failure": "stop"})
        result: PlanStatus = await handle.result()
    assert result.state is PlanState.FAILED
    by_id = {a.id: a for a in result.actions}
    assert by_id["first"].state is ActionState.FAILED
    assert "PreconditionFailed" in by_id["first"].reason
    assert [by_id[f"later{i}"].state for i in range(3)] == [ActionState.CANCELLED] * 3
    assert all(s not in rec.entered for s in later)


async def test_rollback_reverts_completed_actions_newest_first(time_skipping_env: WorkflowEnvironment) -> None:
    rec = PlanRecorder()
    m1, m2, bad = rec.server(seconds=10), rec.server(seconds=20), rec.server(outcome=REVERTED)
    actions = [
        service("disable-h1", "h1", "disabled"),
        service("enable-h2", "h2", "enabled"),  # already enabled: SKIPPED, nothing to revert
        migrate("m1", m1, "h1", "h2", "disable-h1"),
        migrate("m2", m2, "h1", "h2", "disable-h1"),
        migrate("bad", bad, "h1", "h2", "m1", "m2"),
        {"id": "never", "action_type": "sleep", "input_parameters": {"duration": 5}, "parents": ["bad"]},
    ]
    async with plan_worker(time_skipping_env, rec) as tq:
        handle = await start_plan(time_skipping_env, tq, {"actions": actions, "on_failure": "rollback"})
        result: PlanStatus = await handle.result()
        await record(handle, "plan_rollback")
    assert result.state is PlanState.FAILED
    by_id = {a.id: a for a in result.actions}
    assert by_id["bad"].state is ActionState.FAILED
    assert by_id["never"].state is ActionState.CANCELLED
    assert by_id["enable-h2"].state is ActionState.SKIPPED and by_id["enable-h2"].revert is None
    assert {by_id[a].revert for a in ("disable-h1", "m1", "m2")} == {RevertOutcome.REVERTED}
    # Forward moves, then the moves back: m2 finished last, so it goes back first.
    assert rec.moves == [(m1, "h1", "h2"), (m2, "h1", "h2"), (m2, "h2", "h1"), (m1, "h2", "h1")]
    # h1 is enabled again, and before anything moved back onto it.
    assert rec.services["h1"] == (ServiceState.ENABLED, None)
    assert rec.events[-3:] == ["h1 enabled", "move h2->h1", "move h2->h1"]
    assert sorted(rec.service_calls) == [("h1", "disabled"), ("h1", "enabled"), ("h2", "enabled")]
    assert result.counts["reverted"] == 3


async def test_cancel_stops_new_work_and_cancels_running_children(time_skipping_env: WorkflowEnvironment) -> None:
    rec = PlanRecorder()
    reverts = [RevertAction.ABORTED, RevertAction.MIGRATED_BACK, None, None, None]
    servers = [rec.server(seconds=3600, revert=r) for r in reverts]
    actions = [{"id": "hello", "action_type": "nop", "input_parameters": {"message": "start"}, "parents": []}] + [
        migrate(f"m{i}", s, "h1", f"h{2 + i}", "hello") for i, s in enumerate(servers)
    ]
    async with plan_worker(time_skipping_env, rec) as tq:
        handle = await start_plan(
            time_skipping_env,
            tq,
            # All five leave h1: three at once need a per-source limit of 3 (the default is Nova's 1).
            {"actions": actions, "max_parallel": 3, "max_parallel_per_host": 3, "max_parallel_per_source": 3},
        )

        async def three_running() -> bool:
            return len((await status_of(handle)).running) == 3 and rec.running == 3

        await until(three_running, timeout=10, what="three migrations run")
        await handle.cancel()
        with pytest.raises(WorkflowFailureError) as failure:
            await handle.result()
        assert isinstance(failure.value.cause, CancelledError)
        final = await status_of(handle)
        await record(handle, "plan_cancelled_outcome")
    assert final.state is PlanState.CANCELLED
    by_id = {a.id: a for a in final.actions}
    assert by_id["hello"].state is ActionState.SUCCEEDED
    assert all(by_id[f"m{i}"].state is ActionState.CANCELLED for i in range(3))
    # Each reason says what that child did, read from its memo (as MigrateServer records it).
    assert by_id["m0"].reason.endswith("the Nova migration was aborted; the server stayed on h1")
    assert by_id["m1"].reason.endswith("the server was migrated back to h1")
    assert by_id["m1"].reason.startswith(f"cancelled with the plan; migrate-{servers[1]}: ")
    assert by_id["m2"].reason.endswith("cancelled before anything moved")
    assert not any("aborted and reverted" in by_id[f"m{i}"].reason for i in range(3))
    assert all(by_id[a].state is ActionState.CANCELLED and "not started" in by_id[a].reason for a in ("m3", "m4"))
    assert sorted(rec.cancelled) == sorted(servers[:3])
    assert final.counts["CANCELLED"] == 5 and final.counts["SUCCEEDED"] == 1


async def test_update_changes_max_parallel_while_running(time_skipping_env: WorkflowEnvironment) -> None:
    rec = PlanRecorder()
    servers = [rec.server(seconds=600) for _ in range(6)]
    actions = [migrate(f"m{i}", s, f"src{i}", f"dst{i}") for i, s in enumerate(servers)]
    async with plan_worker(time_skipping_env, rec) as tq:
        handle = await start_plan(time_skipping_env, tq, {"actions": actions, "max_parallel": 1})

        await until(lambda: rec.running == 1, timeout=10, what="one migration runs")
        with pytest.raises(WorkflowUpdateFailedError):
            await handle.execute_update(SET_MAX_PARALLEL_UPDATE, 0, result_type=int)
        previous = await handle.execute_update(SET_MAX_PARALLEL_UPDATE, 3, result_type=int)

        await until(lambda: rec.running == 3, timeout=10, what="three migrations run after the update")
        assert (await status_of(handle)).max_parallel == 3
        result: PlanStatus = await handle.result()
        await record(handle, "plan_update_max_parallel")
    assert previous == 1
    assert result.state is PlanState.SUCCEEDED
    assert rec.max_running == 3


async def test_validation_names_every_problem_before_anything_runs(time_skipping_env: WorkflowEnvironment) -> None:
    rec = PlanRecorder()
    plan = {
        "actions": [
            migrate("a1", "not-a-uuid", "h1", "h2"),
            migrate("a4", str(uuid.uuid4()), "h1", "h1"),
            {"id": "a2", "action_type": "teleport", "input_parameters": {}},
            {"id": "a3", "action_type": "sleep", "input_parameters": {"duration": -1}, "parents": ["ghost"]},
            {"id": "a3", "action_type": "nop", "input_parameters": {"message": "dup"}},
            {"id": "c1", "action_type": "nop", "parents": ["c2"]},
            {"id": "c2", "action_type": "nop", "parents": ["c1"]},
            service("s1", "h1", "sideways"),
        ],
        "max_parallel": 0,
        "on_failure": "panic",
    }
    async with plan_worker(time_skipping_env, rec) as tq:
        handle = await start_plan(time_skipping_env, tq, plan)
        with pytest.raises(WorkflowFailureError) as failure:
            await handle.result()
    cause = failure.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.type == "InvalidInput" and cause.non_retryable
    named = {(p["action"], p["field"]) for p in cause.details[0]}
    assert named >= {
        ("a1", "input_parameters.resource_id"),
        ("a4", "input_parameters"),  # destination_node == source_node
        ("a2", "action_type"),
        ("a3", "input_parameters.duration"),
        ("a3", "parents"),
        ("a3", "id"),
        ("c1", "parents"),
        ("c2", "parents"),
        ("s1", "input_parameters.state"),
        ("(plan)", "max_parallel"),
        ("(plan)", "on_failure"),
    }, named
    assert rec.entered == {} and rec.nops == 0 and rec.service_calls == []


async def test_two_thousand_nops_continue_as_new(time_skipping_env: WorkflowEnvironment) -> None:
    rec = PlanRecorder()
    actions = [{"id": f"n{i}", "action_type": "nop", "input_parameters": {"message": f"#{i}"}} for i in range(2000)]
    actions.append({"id": "last", "action_type": "nop", "parents": ["n0", "n1999"]})
    plan = {"actions": actions, "max_parallel": 100, "max_history_events": 1000}
    async with plan_worker(time_skipping_env, rec) as tq:
        handle = await start_plan(time_skipping_env, tq, plan)
        result: PlanStatus = await handle.result()
    assert result.state is PlanState.SUCCEEDED
    assert result.counts["SUCCEEDED"] == 2001
    assert result.runs >= 2
    assert rec.nops == 2001


async def test_a_window_wider_than_a_batch_fills_over_several_workflow_tasks(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    rec = PlanRecorder()
    actions = [{"id": f"n{i}", "action_type": "nop"} for i in range(START_BATCH + 30)]
    async with plan_worker(time_skipping_env, rec) as tq:
        handle = await start_plan(time_skipping_env, tq, {"actions": actions, "max_parallel": 1000})
        result: PlanStatus = await handle.result()
        history = await handle.fetch_history()
        await record(handle, "plan_start_batches")
    assert result.state is PlanState.SUCCEEDED and result.counts["SUCCEEDED"] == START_BATCH + 30
    assert rec.nops == START_BATCH + 30
    kinds = [e.event_type for e in history.events]
    assert kinds.count(EventType.EVENT_TYPE_TIMER_STARTED) == 1  # one pause between the two batches
    resumed = kinds.index(EventType.EVENT_TYPE_TIMER_FIRED)
    nops = [
        e
        for e in history.events[:resumed]
        if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
        and e.marker_recorded_event_attributes.marker_name != "core_patch"
    ]
    assert len(nops) == START_BATCH


#: Migrations of the large-plan test (benchmarks/plan_scale.py runs 2,000 with max_parallel 1,000).
LARGE_PLAN = int(os.environ.get("WATCHER_TEMPORAL_LARGE_PLAN", "300"))


async def test_a_large_plan_of_migrations_continues_as_new_and_answers_status_while_it_runs(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    rec = PlanRecorder()
    hosts = [f"h{i}" for i in range(20)]
    actions = [migrate(f"m{i}", rec.server(seconds=60), hosts[i % 20], hosts[(i + 1) % 20]) for i in range(LARGE_PLAN)]
    max_parallel = LARGE_PLAN // 2
    plan = {
        "actions": actions,
        "max_parallel": max_parallel,
        "max_parallel_per_host": max_parallel,
        "max_parallel_per_source": max_parallel,
        "max_history_events": 1000,
    }
    answered: list[PlanStatus] = []
    async with plan_worker(time_skipping_env, rec) as tq:
        handle = await start_plan(time_skipping_env, tq, plan)

        async def ongoing() -> bool:
            status = await status_of(handle)
            answered.append(status)
            return status.state is PlanState.ONGOING and len(status.running) > 0

        await until(ongoing, timeout=60, what="the plan runs migrations and answers its status query")
        result: PlanStatus = await handle.result()
    assert result.state is PlanState.SUCCEEDED and result.counts["SUCCEEDED"] == LARGE_PLAN
    assert result.runs >= 1  # continued as new at least once: its history stayed bounded
    assert rec.max_running <= max_parallel
    assert all(len(s.running) <= max_parallel for s in answered)
    history = await time_skipping_env.client.get_workflow_handle(handle.id).fetch_history()
    assert len(history.events) < 1000 + 6 * max_parallel  # the last run's history, bounded by the setting


async def test_a_plan_of_1000_actions_loads_over_three_workflow_tasks(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    """Behind ``plan-load-in-steps``: the input in one task; a 1 ms timer, the facts; a timer, the window."""
    rec = PlanRecorder()
    # A long sleep gates every nop: once loaded the plan waits, and a cancel ends it with a short history.
    gate = {"id": "gate", "action_type": "sleep", "input_parameters": {"duration": 3600}}
    nops = [{"id": f"n{i}", "action_type": "nop", "parents": ["gate"]} for i in range(LOAD_STEP_MIN_ACTIONS - 1)]
    async with plan_worker(time_skipping_env, rec) as tq:
        handle = await start_plan(time_skipping_env, tq, {"actions": [gate, *nops], "max_parallel": 10})

        async def gate_running() -> bool:
            return (await status_of(handle)).running == ["gate"]

        await until(gate_running, timeout=10, what="the gate sleeps")
        await handle.cancel()
        with pytest.raises(WorkflowFailureError):
            await handle.result()
        final = await status_of(handle)
        history = await handle.fetch_history()
        await record(handle, "plan_load_in_steps")
    assert final.state is PlanState.CANCELLED and final.counts["CANCELLED"] == LOAD_STEP_MIN_ACTIONS
    assert rec.nops == 0
    kinds = [e.event_type for e in history.events]
    patch = next(
        i
        for i, e in enumerate(history.events)
        if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
        and LOAD_IN_STEPS_PATCH.encode() in e.marker_recorded_event_attributes.details["patch-data"].SerializeToString()
    )
    timers = [e for e in history.events if e.event_type == EventType.EVENT_TYPE_TIMER_STARTED]
    lengths = [t.timer_started_event_attributes.start_to_fire_timeout.ToTimedelta() for t in timers]
    assert lengths == [LOAD_PAUSE, LOAD_PAUSE, timedelta(seconds=3600)]
    fired = [i for i, k in enumerate(kinds) if k == EventType.EVENT_TYPE_TIMER_FIRED]
    started = [history.events.index(t) for t in timers]
    # the marker, a pause, (a new task) the facts, a pause, (a new task) the window, then the gate's own timer
    assert patch < started[0] < fired[0] < started[1] < fired[1] < started[2]


async def test_limits_sent_before_the_plan_is_loaded_are_refused_not_lost(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    """While the plan reads its servers' sizes (its window not loaded yet), a limit change is refused.

    Accepted there, the load that follows would overwrite it: the operator would be told OK and
    the plan would run with the old limit.
    """
    rec = PlanRecorder()
    reading, release = asyncio.Event(), asyncio.Event()

    @activity.defn(name=PlanActivity.MIGRATION_SIZES.value)
    async def slow_sizes(request: SizesRequest) -> SizesResult:
        reading.set()
        await release.wait()
        return SizesResult()

    activities = [a for a in rec.all() if a.__name__ != "migration_sizes"]
    task_queue = f"tq-{uuid.uuid4()}"
    async with Worker(
        time_skipping_env.client,
        task_queue=task_queue,
        workflows=[MaintenancePlan, StandInMigrateServer],
        activities=[*activities, slow_sizes, *PlanChildActivities(time_skipping_env.client).all()],
    ):
        plan = {"actions": [migrate("m1", rec.server(seconds=5), "h1", "h2")], "max_parallel": 1}
        handle = await start_plan(time_skipping_env, task_queue, plan)
        await asyncio.wait_for(reading.wait(), 10)
        for name, value in ((SET_MAX_PARALLEL_UPDATE, 5), (SET_LIMITS_UPDATE, {"max_parallel": 5})):
            with pytest.raises(WorkflowUpdateFailedError) as refused:
                await handle.execute_update(name, value)
            assert "not running yet" in str(refused.value.cause), refused.value.cause
        release.set()
        result: PlanStatus = await handle.result()
    assert result.state is PlanState.SUCCEEDED and result.max_parallel == 1

"""The duration-aware order and the ETA of a real ``MaintenancePlan`` on the time-skipping server.

Stand-in migrations take ``4 s + 3 s/GiB`` of RAM (x a per-host factor, +- 10 % noise, seeded),
the sizes come from the stand-in ``plan.migration_sizes``; nothing depends on the machine's speed.
"""

from __future__ import annotations

import random
import uuid
from datetime import timedelta
from typing import Any

from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from tests.workflows.plan_standins import PlanRecorder
from tests.workflows.test_maintenance_plan import migrate, plan_worker, status_of
from tests.workflows.test_migrate_server import record
from watcher_temporal.contract import PlanActivity, PlanState, PlanStatus, ServerSize
from watcher_temporal.workflows import ALL_WORKFLOWS

#: Flavors (RAM MiB, disk GiB) of the mixed drain.
FLAVORS = [(512, 1), (2048, 10), (4096, 20), (8192, 40), (16384, 80)]
HOST_FACTORS = {"h1": 1.0, "h2": 1.0, "h3": 1.25, "h4": 0.8}


def _mixed_drain(rec: PlanRecorder, rng: random.Random, servers: int = 24) -> list[dict[str, Any]]:
    actions = []
    hosts = list(HOST_FACTORS)
    for i in range(servers):
        memory, disk = rng.choice(FLAVORS)
        source = hosts[i % len(hosts)]
        seconds = (4 + 3 * memory / 1024) * HOST_FACTORS[source] * rng.uniform(0.9, 1.1)
        server = rec.server(seconds=seconds)
        rec.sizes[server] = ServerSize(memory_mib=memory, disk_gib=disk)
        actions.append(migrate(f"m{i:02d}", server, source, None))
    return actions


def _last_change(status: PlanStatus) -> Any:
    """Workflow time of the status: the latest start or end it records."""
    return max(t for a in status.actions for t in (a.started_at, a.finished_at) if t is not None)


async def test_eta_at_half_way_is_within_fifteen_percent_of_the_real_end(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    rec = PlanRecorder()
    actions = _mixed_drain(rec, random.Random(7))
    plan = {"actions": actions, "max_parallel": 4, "max_parallel_per_host": 4, "max_parallel_per_source": 1}
    async with plan_worker(time_skipping_env, rec) as tq:
        handle = await time_skipping_env.client.start_workflow(
            "MaintenancePlan", plan, id=f"plan-{uuid.uuid4()}", task_queue=tq, result_type=PlanStatus
        )
        with time_skipping_env.auto_time_skipping_disabled():
            while True:
                await time_skipping_env.sleep(timedelta(seconds=2))
                half = await status_of(handle)
                if half.counts["SUCCEEDED"] >= len(actions) // 2:
                    break
        result: PlanStatus = await handle.result()
    assert result.state is PlanState.SUCCEEDED and rec.size_reads == 1
    assert result.eta_seconds == 0.0
    assert half.eta_seconds is not None
    # Within 15 % of the real end: the predicted end is off by at most 15 % of the plan's real duration.
    predicted_end = _last_change(half) + timedelta(seconds=half.eta_seconds)
    real_duration = (result.finished_at - result.started_at).total_seconds()
    error = abs((predicted_end - result.finished_at).total_seconds())
    assert error <= 0.15 * real_duration, (half.eta_seconds, real_duration)


async def test_each_source_starts_its_longest_migration_first(time_skipping_env: WorkflowEnvironment) -> None:
    rec = PlanRecorder()
    actions = _mixed_drain(rec, random.Random(3), servers=12)
    plan = {"actions": actions, "max_parallel": 4, "max_parallel_per_host": 4, "max_parallel_per_source": 1}
    async with plan_worker(time_skipping_env, rec) as tq:
        handle = await time_skipping_env.client.start_workflow(
            "MaintenancePlan", plan, id="plan-duration-order", task_queue=tq, result_type=PlanStatus
        )
        result: PlanStatus = await handle.result()
        await record(handle, "plan_duration_order")
        history = await handle.fetch_history()
    assert result.state is PlanState.SUCCEEDED
    for host in HOST_FACTORS:
        mine = [a["input_parameters"]["resource_id"] for a in actions if a["input_parameters"]["source_node"] == host]
        started = sorted(mine, key=rec.entered.__getitem__)
        memory = [rec.sizes[s].memory_mib for s in started]
        assert memory == sorted(memory, reverse=True), host
    # The new shape: one plan.migration_sizes activity, then the children; it replays.
    scheduled = [
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes")
    ]
    assert scheduled == [PlanActivity.MIGRATION_SIZES.value]
    replayer = Replayer(workflows=ALL_WORKFLOWS, data_converter=pydantic_data_converter)
    replayed = await replayer.replay_workflow(
        WorkflowHistory.from_json("plan-duration-order", history.to_json()), raise_on_replay_failure=False
    )
    assert replayed.replay_failure is None, replayed.replay_failure


async def test_without_sizes_the_plan_keeps_plan_order_and_still_gives_an_eta(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    rec = PlanRecorder()  # the stand-in knows no sizes
    servers = [rec.server(seconds=30) for _ in range(4)]
    plan = {"actions": [migrate(f"m{i}", s, "h1", None) for i, s in enumerate(servers)]}
    async with plan_worker(time_skipping_env, rec) as tq:
        handle = await time_skipping_env.client.start_workflow(
            "MaintenancePlan", plan, id=f"plan-{uuid.uuid4()}", task_queue=tq, result_type=PlanStatus
        )
        with time_skipping_env.auto_time_skipping_disabled():
            await time_skipping_env.sleep(timedelta(seconds=1))
            first = await status_of(handle)
        await handle.result()
    assert sorted(servers, key=rec.entered.__getitem__) == servers
    assert first.state is PlanState.ONGOING and first.eta_seconds is not None and first.eta_seconds > 0


async def test_sizes_and_estimates_survive_continue_as_new(time_skipping_env: WorkflowEnvironment) -> None:
    """A plan that continues as new reads its sizes once and keeps what its migrations taught it."""
    rec = PlanRecorder()
    actions = _mixed_drain(rec, random.Random(11), servers=40)
    plan = {"actions": actions, "max_parallel": 4, "max_parallel_per_host": 4, "max_history_events": 200}
    async with plan_worker(time_skipping_env, rec) as tq:
        handle = await time_skipping_env.client.start_workflow(
            "MaintenancePlan", plan, id=f"plan-{uuid.uuid4()}", task_queue=tq, result_type=PlanStatus
        )
        with time_skipping_env.auto_time_skipping_disabled():
            while True:
                await time_skipping_env.sleep(timedelta(seconds=5))
                later = await status_of(handle)
                if later.runs >= 1 and later.counts["ONGOING"]:
                    break
        result: PlanStatus = await handle.result()
    assert result.state is PlanState.SUCCEEDED and result.runs >= 1
    assert rec.size_reads == 1  # the next run got the sizes with the plan
    # The later run's ETA uses the migrations the first run saw end: within 15 % of the duration.
    assert later.eta_seconds is not None
    predicted_end = _last_change(later) + timedelta(seconds=later.eta_seconds)
    real_duration = (result.finished_at - result.started_at).total_seconds()
    assert abs((predicted_end - result.finished_at).total_seconds()) <= 0.15 * real_duration

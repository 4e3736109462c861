"""MaintenancePlan's host limits, exclusive groups and ``set_limits`` on the time-skipping server.

The stand-in migrations report entering and leaving, so the recorder counts
how many ran at once globally, per host, per source and per named
destination: these tests assert counts, never timings.
"""

from __future__ import annotations

from typing import Any

import pytest
from temporalio.client import WorkflowFailureError, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from tests.conditions import until
from tests.workflows.plan_standins import PlanRecorder
from tests.workflows.test_maintenance_plan import migrate, plan_worker, start_plan, status_of
from watcher_temporal.contract import (
    SET_LIMITS_UPDATE,
    SET_MAX_PARALLEL_UPDATE,
    PlanState,
    PlanStatus,
    WindowLimits,
)


async def test_per_source_default_is_one_and_per_destination_limits_named_destinations_only(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    rec = PlanRecorder()
    hosts = ["h1", "h2", "h3", "h4"]
    actions = []
    for i in range(12):  # three named moves out of each host, to the next two hosts
        src = hosts[i % 4]
        dst = hosts[(i + 1 + (i // 4) % 2) % 4]
        actions.append(migrate(f"m{i}", rec.server(seconds=60 + 30 * (i % 3)), src, dst))
    # Scheduler-picked moves: they count on their source only.
    picked = [rec.server(seconds=600) for _ in range(2)]
    actions += [migrate(f"p{i}", s, f"solo{i}", None) for i, s in enumerate(picked)]
    plan = {
        "actions": actions,
        "max_parallel": 20,
        "max_parallel_per_host": 20,
        "max_parallel_per_destination": 1,
    }
    async with plan_worker(time_skipping_env, rec) as tq:
        handle = await start_plan(time_skipping_env, tq, plan)
        result: PlanStatus = await handle.result()
    assert result.state is PlanState.SUCCEEDED and result.counts["SUCCEEDED"] == 14
    assert (result.max_parallel_per_source, result.max_parallel_per_destination) == (1, 1)
    assert {h: rec.max_source_load[h] for h in hosts} == dict.fromkeys(hosts, 1)  # reached, never exceeded
    assert {h: rec.max_destination_load[h] for h in hosts} == dict.fromkeys(hosts, 1)
    # Per host either way: one out and one in at most.
    assert max(rec.max_host_load[h] for h in hosts) == 2
    # One move out of each host, and the two scheduler-picked moves (no named destination) beside them.
    assert rec.max_running == 6


async def test_per_source_limit_can_be_lifted_or_raised(time_skipping_env: WorkflowEnvironment) -> None:
    rec = PlanRecorder()
    lifted = [rec.server(seconds=120) for _ in range(4)]
    raised = [rec.server(seconds=120) for _ in range(5)]
    async with plan_worker(time_skipping_env, rec) as tq:
        first = await start_plan(
            time_skipping_env,
            tq,
            {
                "actions": [migrate(f"m{i}", s, "h1", f"d{i}") for i, s in enumerate(lifted)],
                "max_parallel_per_host": 10,
                "max_parallel_per_source": None,
            },
        )
        assert (await first.result()).state is PlanState.SUCCEEDED
        assert rec.max_source_load["h1"] == 4  # max_parallel (4) is the only bound left
        second = await start_plan(
            time_skipping_env,
            tq,
            {
                "actions": [migrate(f"m{i}", s, "h2", f"e{i}") for i, s in enumerate(raised)],
                "max_parallel": 10,
                "max_parallel_per_host": 10,
                "max_parallel_per_source": 2,
            },
        )
        assert (await second.result()).state is PlanState.SUCCEEDED
    assert rec.max_source_load["h2"] == 2


async def test_at_most_one_action_of_an_exclusive_group_runs_at_a_time(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    rec = PlanRecorder()
    servers = {name: rec.server(seconds=100 + 20 * i) for i, name in enumerate("abcdef")}
    # Every move has its own source and destination: only the groups hold them back.
    actions = [migrate(name, s, f"src-{name}", f"dst-{name}") for name, s in servers.items()]
    groups = {"anti-affinity-1": ["a", "b", "c"], "anti-affinity-2": ["c", "d"]}
    plan = {"actions": actions, "max_parallel": 6, "exclusive_groups": groups}
    async with plan_worker(time_skipping_env, rec) as tq:
        handle = await start_plan(time_skipping_env, tq, plan)
        result: PlanStatus = await handle.result()
    assert result.state is PlanState.SUCCEEDED and result.counts["SUCCEEDED"] == 6
    assert result.exclusive_groups == 2
    for members in groups.values():
        assert rec.max_together([servers[m] for m in members]) == 1
    # The groups hold back only their members: a, d, e and f ran together.
    assert rec.max_running == 4


async def test_set_limits_changes_limits_while_running_and_survives_continue_as_new(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    rec = PlanRecorder()
    servers = [rec.server(seconds=60) for _ in range(40)]
    actions = [migrate(f"m{i}", s, "h1", f"d{i % 2}") for i, s in enumerate(servers)]
    plan = {"actions": actions, "max_parallel": 8, "max_parallel_per_host": 8, "max_history_events": 200}
    async with plan_worker(time_skipping_env, rec) as tq:
        handle = await start_plan(time_skipping_env, tq, plan)
        await until(lambda: rec.running == 1, timeout=10, what="one migration leaves h1")

        async def refused(change: Any) -> str:
            with pytest.raises(WorkflowUpdateFailedError) as failure:
                await handle.execute_update(SET_LIMITS_UPDATE, change, result_type=WindowLimits)
            return str(failure.value.cause)

        assert "max_parallel" in await refused({"max_parallel": 0})
        assert "unknown key (not a limit)" in await refused({"max_parallel_per_sauce": 2})
        assert "names no limit" in await refused({})
        assert "valid integer" in await refused({"max_parallel_per_host": True})
        assert "takes an object" in await refused(3)
        previous = await handle.execute_update(
            SET_LIMITS_UPDATE,
            {"max_parallel_per_source": 3, "max_parallel_per_destination": 2},
            result_type=WindowLimits,
        )
        assert previous == WindowLimits(max_parallel=8, max_parallel_per_host=8, max_parallel_per_source=1)
        await until(lambda: rec.running == 3, timeout=10, what="three migrations leave h1 after set_limits")
        status = await status_of(handle)
        assert (status.max_parallel_per_source, status.max_parallel_per_destination) == (3, 2)
        # The old update still works and changes only the global limit.
        assert await handle.execute_update(SET_MAX_PARALLEL_UPDATE, 7, result_type=int) == 8
        result: PlanStatus = await handle.result()
        with pytest.raises((WorkflowUpdateFailedError, RPCError)):  # refused once the plan ended
            await handle.execute_update(SET_LIMITS_UPDATE, {"max_parallel": 2}, result_type=WindowLimits)
    assert result.state is PlanState.SUCCEEDED and result.counts["SUCCEEDED"] == 40
    assert result.runs >= 1  # it continued as new, and kept the changed limits:
    assert (result.max_parallel, result.max_parallel_per_source, result.max_parallel_per_destination) == (7, 3, 2)
    assert rec.max_source_load["h1"] == 3
    assert rec.max_destination_load == {"d0": 2, "d1": 2}


async def test_bad_limits_and_groups_are_named_before_anything_runs(time_skipping_env: WorkflowEnvironment) -> None:
    rec = PlanRecorder()
    plan = {
        "actions": [migrate("a", rec.server(), "h1", "h2"), migrate("b", rec.server(), "h3", "h4")],
        "max_parallel_per_source": 0,
        "max_parallel_per_destination": 1001,
        "exclusive_groups": {"g1": ["a", "ghost", "a"], "g2": ["b"]},
    }
    async with plan_worker(time_skipping_env, rec) as tq:
        handle = await start_plan(time_skipping_env, tq, plan)
        with pytest.raises(WorkflowFailureError) as failure:
            await handle.result()
        groups_only = {**plan, "max_parallel_per_source": 1, "max_parallel_per_destination": None}
        handle = await start_plan(time_skipping_env, tq, groups_only)
        with pytest.raises(WorkflowFailureError) as groups_failure:
            await handle.result()
    cause = failure.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "InvalidInput" and cause.non_retryable
    named = {(p["action"], p["field"]) for p in cause.details[0]}
    assert named >= {("(plan)", "max_parallel_per_source"), ("(plan)", "max_parallel_per_destination")}, named
    cause = groups_failure.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "InvalidInput"
    assert {(p["action"], p["field"], p["rule"]) for p in cause.details[0]} == {
        ("ghost", "exclusive_groups.g1", "not an action of this plan"),
        ("a", "exclusive_groups.g1", "listed twice in the same group"),
    }
    assert rec.entered == {}

"""A plan of 2,000 actions on the dev server: no workflow task fails, in any continue-as-new run.

The short variant of ``benchmarks/plan_scale.py`` (10,000 there): 1,000
``migrate`` actions (timer-only ``MigrateServer`` stand-ins) and 1,000 nops at
``max_parallel`` 1,000, with a history bound low enough that the plan
continues as new several times. Asserts counts, not times: every action
SUCCEEDED, zero ``WorkflowTaskFailed``/``WorkflowTaskTimedOut`` events over
every run (a deadlocked or too-slow activation, a payload over Temporal's
limit), and each run's history stays under its bound plus one window.
"""

from __future__ import annotations

import uuid

from temporalio.testing import WorkflowEnvironment

from benchmarks.plan_scale import run_at_scale, scale_plan
from watcher_temporal.contract import PlanState

ACTIONS = 2000
MAX_PARALLEL = 1000
MAX_HISTORY_EVENTS = 4000


async def test_a_plan_of_2000_actions_runs_without_a_failed_workflow_task(dev_env: WorkflowEnvironment) -> None:
    plan = scale_plan(ACTIONS, max_parallel=MAX_PARALLEL, seconds=2.0) | {"max_history_events": MAX_HISTORY_EVENTS}
    result, figures, _ = await run_at_scale(dev_env.client, plan, f"plan-scale-{uuid.uuid4().hex[:8]}")

    assert result.state is PlanState.SUCCEEDED, result.reason
    assert result.counts["SUCCEEDED"] == ACTIONS
    assert len(result.actions) == ACTIONS and all(a.finished_at is not None for a in result.actions)
    assert figures.task_failures == 0
    assert len(figures.events_per_run) >= 2, figures.events_per_run  # it did continue as new
    # A run stops starting actions at the bound, then lets the running window finish.
    assert max(figures.events_per_run) < MAX_HISTORY_EVENTS + 8 * MAX_PARALLEL, figures.events_per_run
    assert result.runs == len(figures.events_per_run) - 1

"""A MaintenancePlan of thousands of actions on one worker: activation times, bounded history, no task failure.

    .venv/bin/python benchmarks/plan_scale.py --actions 10000 --max-parallel 1000 --seconds 5

Runs the real ``MaintenancePlan`` workflow on the Temporal dev server. Its
actions are ``migrate`` actions whose ``MigrateServer`` children are
timer-only stand-ins (:mod:`benchmarks.plan_workflows`) and ``nop`` actions
(a local activity that does nothing), so this measures the plan engine and
Temporal, not Nova (see ``benchmarks/scale.py`` for Nova).

Prints, from the plan's own histories (every continue-as-new run):

* activation time: ``WorkflowTaskStarted`` → ``WorkflowTaskCompleted`` of
  each workflow task (the worker's whole turn, server round trip included),
  p50 / p99 / max over all runs, and the slowest three (run, event);
* workflow tasks failed or timed out (a deadlock, a too-large payload, a
  bug): must be 0, and the first failure's message;
* history events per run, and the number of runs;
* the input's size (Temporal refuses payloads over 2 MB), the wall time,
  the ``status`` query's latency while the plan runs, the load average.

A plan that does not end within ``--timeout`` is terminated and its figures
printed all the same (exit 1).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowFailureError
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Worker

from benchmarks.plan_workflows import TimerMigration, migration_sizes, nop
from watcher_temporal.binaries import start_dev_server
from watcher_temporal.contract import STATUS_QUERY, PlanState, PlanStatus
from watcher_temporal.workflows import MaintenancePlan

#: Workflow-task slots of the benchmark's worker.
WORKFLOW_TASK_SLOTS = 50
#: Events that mean a workflow task did not complete.
TASK_FAILURES = (EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED, EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT)


def scale_plan(actions: int, *, max_parallel: int, seconds: float, nop_every: int = 2) -> dict[str, Any]:
    """A plan of ``actions`` independent actions: every ``nop_every``-th a nop, the others migrations."""
    items: list[dict[str, Any]] = []
    for i in range(actions):
        if nop_every and i % nop_every == 0:
            items.append({"id": f"n{i}", "action_type": "nop"})
            continue
        params = {
            "resource_id": str(uuid.uuid4()),
            "migration_type": "live",
            "source_node": f"h{i % 50}",
            "destination_node": f"h{(i + 1) % 50}",
            "poll_interval_seconds": seconds / 10,
        }
        items.append({"id": f"m{i}", "action_type": "migrate", "input_parameters": params})
    return {
        "actions": items,
        "max_parallel": max_parallel,
        "max_parallel_per_host": max_parallel,
        "max_parallel_per_source": max_parallel,
    }


@dataclass
class RunFigures:
    """What the plan's histories show, over every continue-as-new run."""

    activations: list[float] = field(default_factory=list)
    #: (seconds, run, event id of the WorkflowTaskCompleted), for the slowest.
    where: list[tuple[float, int, int]] = field(default_factory=list)
    task_failures: int = 0
    first_failure: str = ""
    events_per_run: list[int] = field(default_factory=list)

    def percentile(self, share: float) -> float:
        ordered = sorted(self.activations)
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def history_figures(client: Client, workflow_id: str, first_run_id: str) -> RunFigures:
    """Walk the chain of runs from the first; time every workflow task, count failed ones."""
    figures = RunFigures()
    run_id: str | None = first_run_id
    while run_id:
        history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        started: dict[int, float] = {}
        run_id = None
        for event in history.events:
            when = event.event_time.ToDatetime().timestamp()
            if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED:
                started[event.event_id] = when
            elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
                begun = started.get(event.workflow_task_completed_event_attributes.started_event_id)
                if begun is not None:
                    figures.activations.append(when - begun)
                    figures.where.append((when - begun, len(figures.events_per_run), event.event_id))
            elif event.event_type in TASK_FAILURES:
                figures.task_failures += 1
                failed = event.workflow_task_failed_event_attributes
                figures.first_failure = figures.first_failure or failed.failure.message[:200] or "timed out"
            elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
                run_id = event.workflow_execution_continued_as_new_event_attributes.new_execution_run_id
        figures.events_per_run.append(len(history.events))
    return figures


class PlanTimedOut(Exception):
    """The plan did not end in time (it was terminated); its figures so far."""

    def __init__(self, figures: RunFigures) -> None:
        super().__init__("the plan did not end in time")
        self.figures = figures


async def run_at_scale(
    client: Client, plan: dict[str, Any], workflow_id: str, *, timeout: float | None = None
) -> tuple[PlanStatus, RunFigures, float]:
    """Run the plan on a worker with the stand-ins; its result, its history figures, its wall time.

    Raises:
        PlanTimedOut: the plan did not end within ``timeout`` seconds (then terminated).
    """
    task_queue = f"plan-scale-{uuid.uuid4().hex[:6]}"
    async with Worker(
        client,
        task_queue=task_queue,
        workflows=[MaintenancePlan, TimerMigration],
        activities=[nop, migration_sizes],
        # What the project's worker takes for 1,000 in flight (WorkerSettings: 10 to 50): more
        # slots only share one GIL, and every task then waits longer for it.
        max_concurrent_workflow_tasks=WORKFLOW_TASK_SLOTS,
    ):
        started = time.monotonic()
        handle = await client.start_workflow(
            "MaintenancePlan", plan, id=workflow_id, task_queue=task_queue, result_type=PlanStatus
        )
        assert handle.first_execution_run_id is not None
        try:
            result = await asyncio.wait_for(handle.result(), timeout)
        except TimeoutError:
            await client.get_workflow_handle(workflow_id).terminate(reason="plan_scale: --timeout")
            raise PlanTimedOut(await history_figures(client, handle.id, handle.first_execution_run_id)) from None
        wall = time.monotonic() - started
    return result, await history_figures(client, handle.id, handle.first_execution_run_id), wall


def payload_bytes(value: Any) -> int:
    """A value's size as a Temporal payload (JSON): the plan as input, its status as result."""
    return len(pydantic_data_converter.payload_converter.to_payloads([value])[0].data)


def print_figures(figures: RunFigures) -> None:
    """The history figures: activation times, the slowest, failures, events per run."""
    ms = 1000
    if figures.activations:
        slowest = ", ".join(f"{t * ms:.0f} ms (run {r + 1}, event {e})" for t, r, e in sorted(figures.where)[-3:][::-1])
        print(
            f"  activation                   p50 {figures.percentile(0.5) * ms:.0f} ms, p99 "
            f"{figures.percentile(0.99) * ms:.0f} ms, max {max(figures.activations) * ms:.0f} ms "
            f"over {len(figures.activations)} workflow tasks"
        )
        print(f"  slowest activations          {slowest}")
    print(f"  workflow tasks failed        {figures.task_failures} {figures.first_failure}".rstrip())
    print(f"  runs (continue-as-new)       {len(figures.events_per_run)}")
    print(f"  history events per run       max {max(figures.events_per_run)}, all {figures.events_per_run}")


async def _query_latencies(client: Client, workflow_id: str, done: asyncio.Event) -> list[float]:
    """``status`` query latencies of the running plan (its latest run), one a second."""
    latencies: list[float] = []
    while not done.is_set():
        asked = time.monotonic()
        try:
            await client.get_workflow_handle(workflow_id).query(STATUS_QUERY, result_type=PlanStatus)
            latencies.append(time.monotonic() - asked)
        except Exception:  # noqa: BLE001 - not started yet, or a run ending mid-query: no figure
            pass
        try:
            await asyncio.wait_for(done.wait(), 1.0)
        except TimeoutError:
            pass
    return latencies


async def run(actions: int, max_parallel: int, seconds: float, nop_every: int, timeout: float) -> None:
    env = await start_dev_server()
    plan = scale_plan(actions, max_parallel=max_parallel, seconds=seconds, nop_every=nop_every)
    migrations = sum(a["action_type"] == "migrate" for a in plan["actions"])
    print(f"actions {actions} ({migrations} migrations, {actions - migrations} nops), max_parallel {max_parallel}, ")
    print(f"  each migration {seconds:g} s (timer); input {payload_bytes(plan) / 1e6:.2f} MB (Temporal's limit: 2 MB)")
    print(f"  load average at start        {os.getloadavg()[0]:.1f}")
    async with env:
        workflow_id = f"plan-scale-{uuid.uuid4().hex[:8]}"
        done = asyncio.Event()
        queries = asyncio.ensure_future(_query_latencies(env.client, workflow_id, done))
        try:
            result, figures, wall = await run_at_scale(env.client, plan, workflow_id, timeout=timeout)
        except WorkflowFailureError as err:
            raise SystemExit(f"the plan failed: {err.cause}") from None
        except PlanTimedOut as err:
            print(f"  outcome                      not ended in {timeout:g} s: terminated")
            print_figures(err.figures)
            raise SystemExit(1) from None
        finally:
            done.set()
        latencies = await queries
    ms = 1000
    print(f"  outcome                      {result.state.value} ({result.counts['SUCCEEDED']} succeeded)")
    print(f"  result (status) size         {payload_bytes(result) / 1e6:.2f} MB")
    print(f"  wall time                    {wall:.1f} s")
    print_figures(figures)
    if latencies:
        print(
            f"  status query latency         median {statistics.median(latencies) * ms:.0f} ms, "
            f"max {max(latencies) * ms:.0f} ms over {len(latencies)} queries"
        )
    print(f"  load average at end          {os.getloadavg()[0]:.1f}")
    if result.state is not PlanState.SUCCEEDED or figures.task_failures:
        raise SystemExit(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--actions", type=int, default=2000)
    parser.add_argument("--max-parallel", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=5.0, help="how long each stand-in migration takes")
    parser.add_argument("--nop-every", type=int, default=2, help="every Nth action is a nop (0: none)")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds before the plan is terminated")
    args = parser.parse_args()
    asyncio.run(run(args.actions, args.max_parallel, args.seconds, args.nop_every, args.timeout))


if __name__ == "__main__":
    main()

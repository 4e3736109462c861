"""CPU time of each workflow task of a large plan, by replaying its recorded histories.

    .venv/bin/python benchmarks/plan_load_cpu.py --actions 10000 --repeats 3

Runs a ``MaintenancePlan`` of ``--actions`` actions (the stand-ins of
``benchmarks/plan_scale.py``) on the Temporal dev server with a small
``max_history_events``, so that it continues as new early; records its first
run (whole) and the start of its second (then terminates it). Then replays
both histories with the SDK's ``Replayer`` (the same workflow sandbox as a
worker) and measures each activation's CPU time on the workflow thread
(``time.thread_time``): that is what the SDK's 2 s deadlock detector
guards, without the wall-clock noise of a shared machine. Prints, per run,
the first activations (where the plan is read, checked and loaded) and the
largest of the others, over ``--repeats`` replays.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from temporalio.client import Client, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer, Worker

from benchmarks.plan_scale import WORKFLOW_TASK_SLOTS, scale_plan
from benchmarks.plan_workflows import TimerMigration, migration_sizes, nop
from watcher_temporal.binaries import start_dev_server
from watcher_temporal.contract import PlanStatus
from watcher_temporal.workflows import MaintenancePlan

#: Activations printed one by one at the start of each run.
FIRST = 5


class TimedExecutor(ThreadPoolExecutor):
    """Runs activations and keeps each one's CPU time on its thread."""

    def __init__(self) -> None:
        super().__init__(max_workers=1)
        self.cpu: list[float] = []

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        def timed() -> Any:
            begun = time.thread_time()
            try:
                return fn(*args, **kwargs)
            finally:
                self.cpu.append(time.thread_time() - begun)

        return super().submit(timed)


async def record(client: Client, actions: int) -> list[WorkflowHistory]:
    """The plan's first run (whole) and the start of its second."""
    plan = scale_plan(actions, max_parallel=200, seconds=2.0) | {"max_history_events": 600}
    workflow_id = f"plan-cpu-{uuid.uuid4().hex[:8]}"
    async with Worker(
        client,
        task_queue=workflow_id,
        workflows=[MaintenancePlan, TimerMigration],
        activities=[nop, migration_sizes],
        max_concurrent_workflow_tasks=WORKFLOW_TASK_SLOTS,
    ):
        handle = await client.start_workflow(
            "MaintenancePlan", plan, id=workflow_id, task_queue=workflow_id, result_type=PlanStatus
        )
        first = handle.first_execution_run_id
        latest = first
        while latest == first:
            await asyncio.sleep(0.5)
            latest = (await client.get_workflow_handle(workflow_id).describe()).run_id
        await asyncio.sleep(5)  # the second run reads, checks and loads the plan
        await client.get_workflow_handle(workflow_id).terminate(reason="plan_load_cpu: recorded")
    return [await client.get_workflow_handle(workflow_id, run_id=run).fetch_history() for run in (first, latest)]


async def replay(history: WorkflowHistory) -> list[float]:
    """Each activation's CPU seconds in one replay."""
    executor = TimedExecutor()
    replayer = Replayer(
        workflows=[MaintenancePlan], data_converter=pydantic_data_converter, workflow_task_executor=executor
    )
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    if result.replay_failure is not None:
        raise SystemExit(f"replay failed: {result.replay_failure}")
    return executor.cpu


async def run(actions: int, repeats: int) -> None:
    async with await start_dev_server() as env:
        histories = await record(env.client, actions)
    print(f"actions {actions}: CPU ms of each activation on the workflow thread (replayed, {repeats} times)")
    for name, history in zip(("first run", "second run (after continue-as-new)"), histories, strict=True):
        rounds = [await replay(history) for _ in range(repeats)]
        print(f"  {name}: {len(history.events)} events, {len(rounds[0])} activations")
        for index in range(min(FIRST, len(rounds[0]))):
            print(f"    activation {index + 1}: " + ", ".join(f"{r[index] * 1000:.0f}" for r in rounds))
        rest = [max(r[FIRST:], default=0.0) for r in rounds]
        print("    largest of the others: " + ", ".join(f"{m * 1000:.0f}" for m in rest))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--actions", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(run(args.actions, args.repeats))


if __name__ == "__main__":
    main()

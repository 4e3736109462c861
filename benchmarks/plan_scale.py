"""A MaintenancePlan of thousands of migrations on one worker: bounded history, a status query that answers.

    .venv/bin/python benchmarks/plan_scale.py --migrations 2000 --max-parallel 1000 --seconds 30

Runs the real ``MaintenancePlan`` workflow on the Temporal dev server; its
``MigrateServer`` children are timer-only stand-ins (``benchmarks/plan_workflows.py``),
so this measures the plan engine and Temporal, not Nova (see ``benchmarks/scale.py``
for Nova). Prints: wall time, continue-as-new runs, history events of the last
run, the largest number of migrations running at once seen by the ``status``
query, and the query's latency while the plan runs.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid

from temporalio.client import WorkflowFailureError
from temporalio.worker import Worker

from benchmarks.plan_workflows import TimerMigration
from watcher_temporal.binaries import start_dev_server
from watcher_temporal.contract import STATUS_QUERY, PlanState, PlanStatus
from watcher_temporal.workflows import MaintenancePlan


async def run(migrations: int, max_parallel: int, seconds: float) -> None:
    env = await start_dev_server()
    async with env:
        task_queue = f"plan-scale-{uuid.uuid4().hex[:6]}"
        actions = [
            {
                "id": f"m{i}",
                "action_type": "migrate",
                "input_parameters": {
                    "resource_id": str(uuid.uuid4()),
                    "migration_type": "live",
                    "source_node": f"host{i % 50}",
                    "destination_node": f"host{(i + 1) % 50}",
                    "poll_interval_seconds": seconds / 10,
                },
            }
            for i in range(migrations)
        ]
        plan = {
            "actions": actions,
            "max_parallel": max_parallel,
            "max_parallel_per_host": max_parallel,
            "max_parallel_per_source": max_parallel,
        }
        async with Worker(
            env.client,
            task_queue=task_queue,
            workflows=[MaintenancePlan, TimerMigration],
            max_concurrent_workflow_tasks=200,
        ):
            started = time.monotonic()
            handle = await env.client.start_workflow(
                "MaintenancePlan",
                plan,
                id=f"plan-scale-{uuid.uuid4().hex[:8]}",
                task_queue=task_queue,
                result_type=PlanStatus,
            )
            result_task = asyncio.ensure_future(handle.result())
            latencies: list[float] = []
            peak_running = 0
            while not result_task.done():
                asked = time.monotonic()
                try:
                    status = await asyncio.wait_for(handle.query(STATUS_QUERY, result_type=PlanStatus), 30)
                except (TimeoutError, Exception):  # noqa: BLE001 - a slow answer is a figure, not a crash
                    latencies.append(time.monotonic() - asked)
                    continue
                latencies.append(time.monotonic() - asked)
                peak_running = max(peak_running, len(status.running))
                await asyncio.wait([result_task], timeout=1.0)
            try:
                result = result_task.result()
            except WorkflowFailureError as err:
                raise SystemExit(f"the plan failed: {err.cause}") from None
            wall = time.monotonic() - started
            described = await env.client.get_workflow_handle(handle.id).describe()
    ok = result.state is PlanState.SUCCEEDED and result.counts["SUCCEEDED"] == migrations
    print(f"migrations {migrations}, max_parallel {max_parallel}, each {seconds:g} s (timer)")
    print(f"  outcome                      {result.state.value} ({result.counts['SUCCEEDED']} succeeded)")
    print(f"  wall time                    {wall:.1f} s")
    print(f"  continue-as-new runs         {result.runs}")
    print(f"  history events, last run     {described.history_length}")
    print(f"  peak running (status query)  {peak_running}")
    print(
        f"  status query latency         median {statistics.median(latencies) * 1000:.0f} ms, "
        f"max {max(latencies) * 1000:.0f} ms over {len(latencies)} queries"
    )
    if not ok:
        raise SystemExit(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--migrations", type=int, default=2000)
    parser.add_argument("--max-parallel", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=30.0, help="how long each stand-in migration takes")
    args = parser.parse_args()
    asyncio.run(run(args.migrations, args.max_parallel, args.seconds))


if __name__ == "__main__":
    main()

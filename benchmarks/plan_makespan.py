"""Makespan: MaintenancePlan's sliding window vs Watcher's layered schedule.

Same migrations, same concurrency, same engine, same local Nova (localnova),
in one run. Watcher's applier runs a plan in chunks of N with a full barrier
between chunks, so each chunk lasts as long as its slowest migration; the
sliding window starts the next migration as soon as any slot frees.
Durations vary through localnova's knobs: live migrations take
``--live-seconds``, cold ones ``--cold-seconds``; the plan interleaves them.

    .venv/bin/python benchmarks/plan_makespan.py [--servers 12] [--parallel 3]
        [--live-seconds 6] [--cold-seconds 1.5]

Prints both makespans (workflow time, start to end of the plan) and their
ratio. Asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from temporalio.testing import WorkflowEnvironment

from localnova import LocalNova
from watcher_temporal.activities.nova import NovaGateway
from watcher_temporal.binaries import start_dev_server
from watcher_temporal.contract import PlanState, PlanStatus
from watcher_temporal.worker import build_worker


def migrations(servers: list[str], source: str, dest: str) -> list[dict[str, Any]]:
    """One migration per server; every third is live (slow), the others cold."""
    return [
        {
            "id": f"m{i}",
            "action_type": "migrate",
            "input_parameters": {
                "resource_id": server,
                "migration_type": "live" if i % 3 == 0 else "cold",
                "source_node": source,
                "destination_node": dest,
                "poll_interval_seconds": 0.25,
                "timeout_seconds": 300,
            },
            "parents": [],
        }
        for i, server in enumerate(servers)
    ]


def layered(actions: list[dict[str, Any]], n: int) -> list[dict[str, Any]]:
    """Watcher's schedule: chunks of ``n``, a barrier (nop) after each chunk."""
    out: list[dict[str, Any]] = []
    barrier: str | None = None
    for start in range(0, len(actions), n):
        chunk = [a | {"parents": [barrier] if barrier else []} for a in actions[start : start + n]]
        out += chunk
        barrier = f"barrier{start // n}"
        out.append({"id": barrier, "action_type": "nop", "parents": [a["id"] for a in chunk]})
    return out


async def makespan(env: WorkflowEnvironment, task_queue: str, actions: list[dict[str, Any]], n: int) -> float:
    plan = {"actions": actions, "max_parallel": n, "max_parallel_per_host": n, "on_failure": "stop"}
    result: PlanStatus = await env.client.execute_workflow(
        "MaintenancePlan", plan, id=f"bench-{uuid.uuid4()}", task_queue=task_queue, result_type=PlanStatus
    )
    if result.state is not PlanState.SUCCEEDED:
        raise SystemExit(f"plan {result.state.value}: {result.reason}")
    assert result.started_at is not None and result.finished_at is not None
    return (result.finished_at - result.started_at).total_seconds()


async def main(args: argparse.Namespace) -> None:
    with LocalNova(
        hosts=("host1", "host2"),
        live_migration_seconds=args.live_seconds,
        cold_migration_seconds=args.cold_seconds,
    ) as cloud:
        servers = cloud.boot_servers(args.servers, hosts=["host1"], name_prefix="bench")
        env = await start_dev_server()
        async with env:
            nova = NovaGateway(connect=cloud.connect)
            task_queue = f"bench-{uuid.uuid4().hex[:6]}"
            async with build_worker(env.client, task_queue=task_queue, nova=nova):
                n = args.parallel
                sliding = await makespan(env, task_queue, migrations(servers, "host1", "host2"), n)
                layers = await makespan(env, task_queue, layered(migrations(servers, "host2", "host1"), n), n)
            nova.close()
    work = sum(args.live_seconds if i % 3 == 0 else args.cold_seconds for i in range(args.servers))
    print(
        f"{args.servers} migrations ({(args.servers + 2) // 3} live x {args.live_seconds:g}s, "
        f"{args.servers - (args.servers + 2) // 3} cold x {args.cold_seconds:g}s in localnova; "
        f"{work:g}s of Nova work), concurrency {n}"
    )
    print(f"  Watcher layered (chunks of {n}, barriers): {layers:6.1f} s")
    print(f"  MaintenancePlan sliding window:          {sliding:6.1f} s")
    print(f"  ratio sliding / layered:                 {sliding / layers:6.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--servers", type=int, default=12)
    parser.add_argument("--parallel", type=int, default=3)
    parser.add_argument("--live-seconds", type=float, default=6.0)
    parser.add_argument("--cold-seconds", type=float, default=1.5)
    asyncio.run(main(parser.parse_args()))

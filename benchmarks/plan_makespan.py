"""Makespan: MaintenancePlan's sliding window vs Watcher's layered schedule.

Two comparisons, each on one local Nova (localnova) in one run.

``--watcher``: one host-maintenance plan built by Watcher 17's own
``WeightPlanner`` (disable the host, then the migrations in chunks of
``parallelization`` = 2 with a full barrier between chunks), run three times
inside Watcher's real applier (``DefaultActionPlanHandler``):

1. Watcher's applier with its ``taskflow`` engine;
2. the ``temporal`` engine with Watcher's parents (``barriers = keep``);
3. the ``temporal`` engine with the barriers turned into a limit
   (``barriers = limits``: no parent edge between migrations, max_parallel =
   the widest chunk).

Both temporal runs use ``max_parallel = max_parallel_per_host =
max_parallel_per_source = 2``, so only the barriers differ from Watcher's
applier (which runs the two migrations of a chunk from one host at once).
Makespan: from ``execute()`` to its return, wall clock.

    .venv/bin/python benchmarks/plan_makespan.py --watcher [--servers 12]
        [--live-seconds 6] [--cold-seconds 1.5]

Without ``--watcher`` (the synthetic comparison): Watcher's applier runs a plan in chunks of N with a full barrier
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
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from temporalio.testing import WorkflowEnvironment

from localnova import LocalNova
from localnova.harness import LocalNovaHandle
from watcher_temporal.activities.nova import NovaGateway
from watcher_temporal.binaries import start_dev_server
from watcher_temporal.contract import MaintenancePlanInput, PlanState, PlanStatus, watcher_plan_workflow_id
from watcher_temporal.worker import build_worker

#: The three runs of ``--watcher``: (label, workflow engine, ``barriers`` option).
WATCHER_RUNS = (
    ("Watcher's applier (taskflow, its parents)", "taskflow", None),
    ("MaintenancePlan, Watcher's parents (barriers = keep)", "temporal", "keep"),
    ("MaintenancePlan, barriers -> limits (barriers = limits)", "temporal", "limits"),
)


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
    plan = {
        "actions": actions,
        "max_parallel": n,
        "max_parallel_per_host": n,
        "max_parallel_per_source": n,  # every migration leaves one host: only the barriers differ
        "on_failure": "stop",
    }
    result: PlanStatus = await env.client.execute_workflow(
        "MaintenancePlan", plan, id=f"bench-{uuid.uuid4()}", task_queue=task_queue, result_type=PlanStatus
    )
    if result.state is not PlanState.SUCCEEDED:
        raise SystemExit(f"plan {result.state.value}: {result.reason}")
    assert result.started_at is not None and result.finished_at is not None
    return (result.finished_at - result.started_at).total_seconds()


def interleaved(cloud: LocalNovaHandle, count: int) -> dict[str, str]:
    """Boot ``count`` servers on host1; every third ACTIVE (live), the others SHUTOFF (cold), interleaved."""
    from benchmarks.watcher_engine import boot

    kinds = ["live" if i % 3 == 0 else "cold" for i in range(count)]
    booted = boot(cloud, kinds.count("live"), kinds.count("cold"))
    live = [s for s, k in booted.items() if k == "live"]
    cold = [s for s, k in booted.items() if k == "cold"]
    return {(live if kind == "live" else cold).pop(0): kind for kind in kinds}


def set_barriers(config_file: Path, mode: str) -> None:
    """Rewrite ``barriers`` in the engine's section (Watcher's loader re-reads the file for each plan)."""
    lines = [line for line in config_file.read_text().splitlines() if not line.startswith("barriers =")]
    index = lines.index("[watcher_workflow_engines.temporal]")
    lines.insert(index + 1, f"barriers = {mode}")
    config_file.write_text("\n".join(lines) + "\n")


async def plan_shape(env: WorkflowEnvironment, plan_uuid: str) -> str:
    """Parent edges between migrations and max_parallel of the plan's workflow, read from its history."""
    history = await env.client.get_workflow_handle(watcher_plan_workflow_id(plan_uuid)).fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes
    [plan] = env.client.data_converter.payload_converter.from_payloads(
        list(started.input.payloads)[:1], [MaintenancePlanInput]
    )
    assert isinstance(plan, MaintenancePlanInput)
    migrations = {a.id for a in plan.actions if a.action_type.value == "migrate"}
    edges = sum(p in migrations for a in plan.actions if a.id in migrations for p in a.parents)
    return f"migrate->migrate edges {edges}, max_parallel {plan.max_parallel}"


async def watcher_main(args: argparse.Namespace) -> None:
    """The three runs of ``--watcher`` on one plan shape (see the module docstring)."""
    import yaml

    from benchmarks.watcher_engine import drain, reset, use_engine
    from tests.watcher_engine.watcher_stack import start_watcher

    with LocalNova(hosts=("host1", "host2", "host3")) as cloud:
        entry = yaml.safe_load(cloud.clouds_yaml.read_text())["clouds"][cloud.cloud_name]
        env = await start_dev_server()
        async with env:
            nova = NovaGateway(connect=cloud.connect)
            task_queue = f"bench-{uuid.uuid4().hex[:6]}"
            async with build_worker(env.client, task_queue=task_queue, nova=nova):
                stack = start_watcher(
                    Path(tempfile.mkdtemp(prefix="watcher-makespan-")),
                    engine={
                        "address": env.client.service_client.config.target_host,
                        "namespace": env.client.namespace,
                        "task_queue": task_queue,
                        "max_parallel": "2",
                        "max_parallel_per_host": "2",
                        "max_parallel_per_source": "2",
                        "barriers": "keep",
                    },
                    nova={"migration_interval": "0.5", "endpoint_override": cloud.endpoint},
                    clients_auth={
                        "auth_type": "admin_token",
                        "endpoint": entry["auth"]["endpoint"],
                        "token": entry["auth"]["token"],
                    },
                )
                live = (args.servers + 2) // 3
                print(
                    f"{args.servers} servers on host1 -> host2 ({live} ACTIVE live x {args.live_seconds:g} s, "
                    f"{args.servers - live} SHUTOFF cold x {args.cold_seconds:g} s in localnova, interleaved); "
                    "plan from Watcher's WeightPlanner (chunks of 2); [nova] migration_interval = 0.5",
                    flush=True,
                )
                spans = []
                for label, engine, barriers in WATCHER_RUNS:
                    reset(cloud)
                    cloud.configure(live_migration_seconds=args.live_seconds, cold_migration_seconds=args.cold_seconds)
                    servers = interleaved(cloud, args.servers)
                    plan = stack.build_plan(drain("host1", "host2", servers))
                    use_engine(engine)
                    if barriers:
                        set_barriers(stack.config_file, barriers)
                    started = time.monotonic()
                    await asyncio.to_thread(stack.run_plan, plan)
                    spans.append(time.monotonic() - started)
                    shape = await plan_shape(env, plan) if engine == "temporal" else "its own taskflow graph"
                    print(
                        f"  {label:58} {spans[-1]:6.1f} s  (ratio {spans[-1] / spans[0]:4.2f}; plan "
                        f"{stack.plan(plan).state}, actions {dict(stack.action_states(plan))}; {shape})",
                        flush=True,
                    )
            nova.close()


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
    parser.add_argument("--watcher", action="store_true", help="Watcher's applier vs MaintenancePlan, 3 runs")
    parsed = parser.parse_args()
    asyncio.run(watcher_main(parsed) if parsed.watcher else main(parsed))

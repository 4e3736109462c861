"""Watcher's taskflow engine vs the ``temporal`` engine, same plans, same Watcher applier.

Both run inside Watcher 17's real applier code (``DefaultActionPlanHandler``
on PostgreSQL (tests/postgres.py), ``fake:/`` transport, ``test`` notifier); only
``[watcher_applier] workflow_engine`` changes. Both move servers in the same
localnova (a real Nova 34), Temporal runs on the dev server with one
in-process worker. Plans come from Watcher's ``WeightPlanner``
(host_maintenance shape: disable the host, then migrate every server).

    .venv/bin/python benchmarks/watcher_engine.py [--servers 6] [--live-seconds 3] [--cold-seconds 1]
        [--cancel-migration-seconds 10] [--cancel-after 3]

Prints, per engine:

* makespan of the drain plan (from ``execute()`` to its return) and the Nova
  API requests it made (localnova's counters: Watcher's own Nova client for
  taskflow, the worker's for temporal);
* cancel: a plan whose live migration takes ``--cancel-migration-seconds`` is
  cancelled ``--cancel-after`` s into the migration: time until the plan is
  CANCELLED and where the server ends;
* restart: the applier process is killed mid-plan and restarted (taskflow:
  Watcher's ``watcher-applier`` start-up sync; temporal: ``watcher-temporal-applier``'s);
  the plan's DB state, where the servers are and how many Nova migrations ran.

Asserts nothing. taskflow runs with ``max_workers`` = CPU count (Watcher's
default) and the planner's chunks of 2 migrations; temporal at its documented
defaults (``max_parallel`` 4, ``max_parallel_per_host`` 2,
``max_parallel_per_source`` 1, ``barriers = keep``). localnova runs in simple
mode (fixed durations) with Nova's per-host ``max_concurrent_live_migrations``
= 1: both engines' second live migration from host1 waits ``queued`` in Nova.
``benchmarks/plan_makespan.py --watcher`` compares makespans on the bandwidth
model, over several plan shapes and repeats.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import yaml
from oslo_config import cfg

from localnova import LocalNova
from localnova.harness import LocalNovaHandle
from tests.watcher_engine.watcher_stack import WatcherStack, start_watcher
from watcher_temporal.activities.nova import NovaGateway
from watcher_temporal.binaries import start_dev_server
from watcher_temporal.worker import build_worker

ENGINES = ("taskflow", "temporal")
#: Nova migration statuses of a migration still under way.
BUSY = frozenset({"running", "queued", "preparing", "accepted", "pre-migrating", "post-migrating"})


def use_engine(engine: str) -> None:
    cfg.CONF.set_override("workflow_engine", engine, group="watcher_applier")


def drain(host: str, dest: str, servers: dict[str, str]) -> list[dict[str, Any]]:
    actions: list[dict[str, Any]] = [
        {
            "action_type": "change_nova_service_state",
            "input_parameters": {
                "resource_id": host,
                "resource_name": host,
                "state": "disabled",
                "disabled_reason": "watcher_maintaining",
            },
        }
    ]
    for server, kind in servers.items():
        actions.append(
            {
                "action_type": "migrate",
                "input_parameters": {
                    "resource_id": server,
                    "migration_type": kind,
                    "source_node": host,
                    "destination_node": dest,
                },
            }
        )
    return actions


def reset(cloud: LocalNovaHandle) -> None:
    cloud.delete_all_servers()
    for svc in cloud.conn.compute.services(binary="nova-compute"):
        if svc.status != "enabled":
            cloud.conn.compute.enable_service(svc, host=svc.host, binary="nova-compute")
    cloud.reset_config()


def boot(cloud: LocalNovaHandle, live: int, cold: int) -> dict[str, str]:
    ids = cloud.boot_servers(live + cold, hosts=["host1"], name_prefix=f"b{uuid.uuid4().hex[:4]}")
    for server in ids[live:]:
        cloud.conn.compute.stop_server(server)
        cloud.wait_server(server, "SHUTOFF")
    return {s: ("live" if i < live else "cold") for i, s in enumerate(ids)}


def where(cloud: LocalNovaHandle, servers: list[str]) -> Counter[str]:
    return Counter(str(cloud.conn.compute.get_server(s).compute_host) for s in servers)


def migrations(cloud: LocalNovaHandle, servers: list[str]) -> Counter[str]:
    return Counter(m.status for s in servers for m in cloud.conn.compute.migrations(server_id=s))


async def makespan(stack: WatcherStack, cloud: LocalNovaHandle, args: argparse.Namespace, engine: str) -> str:
    reset(cloud)
    cloud.configure(live_migration_seconds=args.live_seconds, cold_migration_seconds=args.cold_seconds)
    servers = boot(cloud, args.servers - args.servers // 2, args.servers // 2)
    plan = stack.build_plan(drain("host1", "host2", servers))
    use_engine(engine)
    cloud.reset_stats()
    started = time.monotonic()
    await asyncio.to_thread(stack.run_plan, plan)
    took = time.monotonic() - started
    requests = cloud.stats()["total"]
    return (
        f"makespan {took:6.1f} s, plan {stack.plan(plan).state}, actions {dict(stack.action_states(plan))}, "
        f"servers {dict(where(cloud, list(servers)))}, Nova API requests {requests}"
    )


async def cancel(stack: WatcherStack, cloud: LocalNovaHandle, args: argparse.Namespace, engine: str) -> str:
    reset(cloud)
    cloud.configure(live_migration_seconds=args.cancel_migration_seconds)
    servers = boot(cloud, 1, 0)
    [server] = servers
    plan = stack.build_plan(drain("host1", "host2", servers))
    use_engine(engine)
    running = asyncio.ensure_future(asyncio.to_thread(stack.run_plan, plan))
    await poll(lambda: any(m.status == "running" for m in cloud.conn.compute.migrations(server_id=server)))
    await asyncio.sleep(args.cancel_after)
    cancelled = time.monotonic()
    await asyncio.to_thread(stack.cancel, plan)
    await running
    took = time.monotonic() - cancelled
    return (
        f"cancel {args.cancel_after:g} s into a {args.cancel_migration_seconds:g} s live migration: "
        f"plan {stack.plan(plan).state} after {took:5.1f} s, server on {dict(where(cloud, [server]))}, "
        f"Nova migrations {dict(migrations(cloud, [server]))}"
    )


async def restart(stack: WatcherStack, cloud: LocalNovaHandle, args: argparse.Namespace, engine: str) -> str:
    reset(cloud)
    cloud.configure(live_migration_seconds=args.live_seconds)
    servers = boot(cloud, 3, 0)
    plan = stack.build_plan(drain("host1", "host2", servers))
    first = stack.applier_process(engine, "run", plan)
    await poll(lambda: any(m.status == "running" for m in _all(cloud, list(servers))))
    first.kill()
    first.wait()
    second = stack.applier_process(engine, "sync")
    await asyncio.to_thread(second.wait)
    # let Nova finish whatever it was doing before judging
    await poll(lambda: not any(m.status in BUSY for m in _all(cloud, list(servers))))
    return (
        f"applier killed mid-migration, restarted: plan {stack.plan(plan).state}, "
        f"actions {dict(stack.action_states(plan))}, servers {dict(where(cloud, list(servers)))}, "
        f"Nova migrations {dict(migrations(cloud, list(servers)))}"
    )


async def poll(predicate: Callable[[], bool], *, every: float = 0.1, timeout: float = 120) -> None:
    """Wait until ``predicate()`` holds (or give up after ``timeout`` s)."""
    async with asyncio.timeout(timeout):
        while True:
            if predicate():
                return
            await asyncio.sleep(every)


def _all(cloud: LocalNovaHandle, servers: list[str]) -> list[Any]:
    return [m for s in servers for m in cloud.conn.compute.migrations(server_id=s)]


async def main(args: argparse.Namespace) -> None:
    with LocalNova(hosts=("host1", "host2", "host3")) as cloud:
        entry = yaml.safe_load(cloud.clouds_yaml.read_text())["clouds"][cloud.cloud_name]
        env = await start_dev_server()
        async with env:
            nova = NovaGateway(connect=cloud.connect)
            task_queue = f"bench-{uuid.uuid4().hex[:6]}"
            async with build_worker(env.client, task_queue=task_queue, nova=nova):
                stack = start_watcher(
                    Path(tempfile.mkdtemp(prefix="watcher-bench-")),
                    engine={
                        "address": env.client.service_client.config.target_host,
                        "namespace": env.client.namespace,
                        "task_queue": task_queue,
                    },
                    nova={"migration_interval": "0.5", "endpoint_override": cloud.endpoint},
                    clients_auth={
                        "auth_type": "admin_token",
                        "endpoint": entry["auth"]["endpoint"],
                        "token": entry["auth"]["token"],
                    },
                )
                print(
                    f"{args.servers} servers on host1 ({args.servers - args.servers // 2} ACTIVE live "
                    f"x {args.live_seconds:g} s, {args.servers // 2} SHUTOFF cold x {args.cold_seconds:g} s in "
                    "localnova); [nova] migration_interval = 0.5"
                )
                for scenario in (makespan, cancel, restart):
                    for engine in ENGINES:
                        line = await scenario(stack, cloud, args, engine)
                        print(f"  {scenario.__name__:8} {engine:8} {line}", flush=True)
            nova.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--servers", type=int, default=6)
    parser.add_argument("--live-seconds", type=float, default=3.0)
    parser.add_argument("--cold-seconds", type=float, default=1.0)
    parser.add_argument("--cancel-migration-seconds", type=float, default=10.0)
    parser.add_argument("--cancel-after", type=float, default=3.0)
    asyncio.run(main(parser.parse_args()))

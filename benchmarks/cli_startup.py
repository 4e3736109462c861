"""How fast ``watcher-temporal`` answers: ``--help``, every subcommand's ``--help``, ``list`` and ``status``.

Each command runs as its own process (the console script), ``--runs`` times
after one warm-up; the whole process's wall time is printed as min / median /
max, and its CPU time (user + sys), which a busy machine does not inflate.
``list`` and ``status`` run against a Temporal dev server started here (one
terminated ``MigrateServer`` to look at); beside them, Temporal's own answer
time (the same RPCs from an already connected client) and the ``temporal`` CLI's ``workflow describe`` as a yardstick::

    .venv/bin/python benchmarks/cli_startup.py --runs 5
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

from watcher_temporal.binaries import start_dev_server, temporal_cli_path
from watcher_temporal.contract import MigrateServerInput, MigrationType
from watcher_temporal.starter import start_migration

BIN = Path(sys.executable).parent
SUBCOMMANDS = ("migrate", "drain-host", "undrain-host", "status", "cancel", "force-complete", "set-limits", "list")


def timed(argv: list[str], env: dict[str, str], runs: int) -> tuple[list[float], list[float]]:
    """Wall and CPU (user + sys) seconds of ``runs`` runs of ``argv`` (after one warm-up run)."""
    wall, cpu = [], []
    for i in range(runs + 1):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if i:
            wall.append(time.perf_counter() - started)
            cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return wall, cpu


def row(name: str, measured: tuple[list[float], list[float]]) -> str:
    wall, cpu = measured
    spread = f"{min(wall):.3f} | {statistics.median(wall):.3f} | {max(wall):.3f}"
    return f"| {name} | {spread} | {statistics.median(cpu):.3f} |" if cpu else f"| {name} | {spread} | |"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def main(runs: int) -> None:
    cli = str(BIN / "watcher-temporal")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "TEMPORAL_", "OTEL_"))}
    print(f"{runs} runs each after one warm-up, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}\n")
    print("| command | wall min s | wall median s | wall max s | CPU median s |\n|---|---|---|---|---|")
    print(row("watcher-temporal --help", timed([cli, "--help"], env, runs)))
    for name in SUBCOMMANDS:
        print(row(f"watcher-temporal {name} --help", timed([cli, name, "--help"], env, runs)))
    port = _free_port()
    async with await start_dev_server(port=port) as server:
        params = MigrateServerInput(
            resource_id=str(uuid.uuid4()), migration_type=MigrationType.LIVE, source_node="host1"
        )
        handle = await start_migration(server.client, params, task_queue="nobody")
        await handle.terminate(reason="benchmark: something to describe")
        env |= {"TEMPORAL_ADDRESS": f"localhost:{port}"}
        answers = []
        for _ in range(runs):
            started = time.perf_counter()
            await handle.describe()
            async for _execution in server.client.list_workflows('WorkflowType = "MigrateServer"', limit=50):
                pass
            answers.append(time.perf_counter() - started)
        print(row("Temporal's answer (describe + list, connected client)", (answers, [])))
        print(row("watcher-temporal status ID", timed([cli, "status", handle.id], env, runs)))
        print(row("watcher-temporal list", timed([cli, "list"], env, runs)))
        temporal = shutil.which("temporal") or temporal_cli_path()
        describe = [temporal, "workflow", "describe", "-w", handle.id, "--address", f"localhost:{port}"]
        print(row("temporal workflow describe -w ID (yardstick)", timed(describe, env, runs)))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=5, help="timed runs per command (default 5)")
    asyncio.run(main(parser.parse_args().runs))
    sys.stdout.flush()
    os._exit(0)

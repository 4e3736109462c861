"""Worker memory and CPU per migration in flight, without Nova.

Runs the real ``MigrateServer`` workflow on a worker process of its own,
built like ``worker.py`` (:func:`watcher_temporal.worker.build_worker` with its
settings), with stand-in activities in place of Nova: every wait heartbeats
like the observer-fed wait does (every ``OBSERVER_WAKE_SECONDS``) until
``--hold`` seconds have passed. It starts ``--in-flight`` migrations at
once, samples the worker's RSS and CPU while they are all waiting, and prints
one table. It isolates what one worker process costs per migration in flight
from localnova (which needs minutes and most of the CPU to boot 1,000
servers); ``benchmarks/scale.py`` measures the whole thing against Nova.

    .venv/bin/python -m benchmarks.worker_memory --in-flight 1000 --hold 120
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from watcher_temporal.config import data_converter
from watcher_temporal.process_exit import exit_process
from watcher_temporal.search_attributes import ensure_registered

TASK_QUEUE = "worker-memory"
PAGE = os.sysconf("SC_PAGE_SIZE")
TICKS = os.sysconf("SC_CLK_TCK")


def _rss_and_cpu(pid: int) -> tuple[float, float]:
    """RSS in MB and CPU seconds (user + system) of one process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / TICKS
    rss = int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE / 1e6
    return rss, cpu


async def _started_count(client: Client) -> int:
    """Migrations whose wait is running (the worker's count, from the visibility store)."""
    count = await client.count_workflows(f"TaskQueue = '{TASK_QUEUE}' AND ExecutionStatus = 'Running'")
    return count.count


async def run(in_flight: int, hold: float, cache: int | None) -> None:
    temporal = shutil.which("temporal") or str(Path(sys.executable).parent / "temporal")
    async with await WorkflowEnvironment.start_local(
        data_converter=data_converter(codec=None),
        dev_server_existing_path=temporal,
        dev_server_extra_args=["--dynamic-config-value", "limit.maxIDLength=255"],
    ) as env:
        address = env.client.service_client.config.target_host
        await ensure_registered(env.client)
        worker_env = os.environ | {
            "WATCHER_TEMPORAL_ADDRESS": address,
            "WORKER_MEMORY_HOLD": str(hold),
            "WORKER_MEMORY_CACHE": "" if cache is None else str(cache),
        }
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "benchmarks.worker_memory_worker", env=worker_env
        )
        try:
            await _measure(env.client, proc.pid, in_flight, hold)
        finally:
            proc.terminate()
            await asyncio.wait_for(proc.wait(), timeout=60)


async def _measure(client: Client, pid: int, in_flight: int, hold: float) -> None:
    base_rss, _ = _rss_and_cpu(pid)
    for _ in range(600):  # the worker imports and connects
        await asyncio.sleep(0.1)
        rss, _ = _rss_and_cpu(pid)
        if rss > base_rss + 50:
            break
    await asyncio.sleep(2)
    idle_rss, cpu_start = _rss_and_cpu(pid)
    started = time.monotonic()
    handles = []
    for index in range(in_flight):
        server = str(uuid.UUID(int=index + 1))
        handles.append(
            await client.start_workflow(
                "MigrateServer",
                {
                    "resource_id": server,
                    "migration_type": "live",
                    "source_node": "host-a",
                    "destination_node": "host-b",
                    "poll_interval_seconds": 5,
                    "timeout_seconds": hold * 4,
                },
                id=f"migrate-{server}",
                task_queue=TASK_QUEUE,
                execution_timeout=timedelta(seconds=hold * 6),
            )
        )
    start_seconds = time.monotonic() - started
    samples: list[float] = []
    peak = idle_rss
    while time.monotonic() - started < hold * 0.9:
        await asyncio.sleep(2)
        rss, _ = _rss_and_cpu(pid)
        samples.append(rss)
        peak = max(peak, rss)
    _, cpu_hold = _rss_and_cpu(pid)
    hold_seconds = time.monotonic() - started
    results = await asyncio.gather(*(h.result() for h in handles), return_exceptions=True)
    failed = sum(isinstance(r, BaseException) for r in results)
    done_seconds = time.monotonic() - started
    _, cpu_end = _rss_and_cpu(pid)
    print(f"in flight                     {in_flight}")
    print(f"start all (client)            {start_seconds:.1f} s")
    print(f"worker RSS idle               {idle_rss:.0f} MB")
    print(f"worker RSS median while held  {statistics.median(samples):.0f} MB")
    print(f"worker RSS peak               {peak:.0f} MB")
    print(f"RSS per migration in flight   {(peak - idle_rss) / in_flight * 1000:.0f} kB")
    print(f"worker CPU while held         {(cpu_hold - cpu_start) / hold_seconds:.3f} cores")
    print(f"worker CPU whole run          {(cpu_end - cpu_start) / done_seconds:.3f} cores")
    print(f"failed                        {failed}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--in-flight", type=int, default=1000)
    parser.add_argument("--hold", type=float, default=120.0, help="seconds every wait lasts")
    parser.add_argument("--cache", type=int, default=None, help="max_cached_workflows (default: the worker's)")
    args = parser.parse_args()
    asyncio.run(run(args.in_flight, args.hold, args.cache))
    exit_process(0)


if __name__ == "__main__":
    main()

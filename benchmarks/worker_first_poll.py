"""How soon a (re)started worker polls: spawn of ``python worker.py`` to its first poll.

    .venv/bin/python benchmarks/worker_first_poll.py [--runs 10]

What a kill costs on top of the heartbeat timeout is, for the most part, how
long a replacement worker takes to poll. This starts a dev server and localnova
(the worker checks its Nova before it polls), then spawns ``worker.py`` ``--runs``
times, one after the other, as a supervisor restarts a killed worker. Each time it
records the seconds from the spawn until the server lists the new process among
the activity task queue's pollers (``DescribeTaskQueue``, looked at every 0.1 s),
and the CPU seconds the process had used by then: on an idle machine the wall
time is close to the CPU time; on a busy one the difference is the wait for a
core. Prints min / median / max of both, and the load average before and after.
Asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from temporalio.client import Client

from benchmarks.chaos import TemporalServer, Workers
from localnova import LocalNova
from localnova.hermetic import without_foreign

REPO = Path(__file__).resolve().parents[1]
TASK_QUEUE = "first-poll"


def _spread(values: list[float]) -> str:
    return f"{min(values):.2f} / {statistics.median(values):.2f} / {max(values):.2f}"


async def measure(runs: int, address: str, env: dict[str, str]) -> tuple[list[float], list[float]]:
    client = await _connect(address)
    workers = Workers(env, count=1)
    polls = asyncio.ensure_future(workers.watch_polls(client, TASK_QUEUE))
    try:
        await asyncio.sleep(5)  # the first worker registers search attributes; not counted
        rng = random.Random(0)
        for _ in range(runs):
            workers.kill_one(rng)
            fresh = workers.procs[0].pid
            async with asyncio.timeout(120):
                while fresh not in workers.poll_starts:  # noqa: ASYNC110 - chaos.py's poll watcher has no event
                    await asyncio.sleep(0.1)
    finally:
        polls.cancel()
        workers.stop()
    return list(workers.poll_starts.values()), list(workers.poll_cpu.values())


async def _connect(address: str) -> Client:
    async with asyncio.timeout(60):
        while True:
            try:
                return await Client.connect(address)
            except RuntimeError:
                await asyncio.sleep(0.5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="worker starts to time (default 10)")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="first-poll-") as tmp:
        server = TemporalServer(Path(tmp) / "temporal.db")
        server.start()
        try:
            with LocalNova(hosts=["host1", "host2"]) as cloud:
                env = {
                    **without_foreign(),
                    **cloud.env(),
                    "TEMPORAL_ADDRESS": server.address,
                    "TEMPORAL_NAMESPACE": "default",
                    "TEMPORAL_TASK_QUEUE": TASK_QUEUE,
                    "PYTHONPATH": str(REPO),
                    "WATCHER_TEMPORAL_LOG_LEVEL": "ERROR",
                }
                started = time.monotonic()
                walls, cpus = asyncio.run(measure(args.runs, server.address, env))
        finally:
            server.stop()
    print(f"worker starts: {len(walls)} (in {time.monotonic() - started:.0f} s)")
    print(f"spawn to first poll, s (min / median / max): {_spread(walls)}")
    print(f"CPU seconds used by then (min / median / max): {_spread(cpus)}")
    print(f"load average (1 min) before {load_before:.2f}, after {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()

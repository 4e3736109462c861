"""How many Compute API requests a second does localnova answer?  (Its ceiling as a test Nova.)

Usage::

    python -m localnova.apirate [--hosts 10] [--servers 200] [--clients 8] [--seconds 20]

Boots ``--servers`` servers, then ``--clients`` threads (one openstacksdk
connection each) send, for ``--seconds``, what a watcher-temporal worker
sends while migrations run: ``GET /servers/{id}`` of random servers and
``GET /os-migrations`` (``changes-since``, 2.59), one list per 5 reads.
Prints requests answered per second by path, the median and 95th percentile
latency, and the cloud process's CPU over the window (psutil).

localnova is one process: its databases are in-memory sqlite (one connection
per database, every transaction serialised, see ``dblock.py``), its RPC is
oslo.messaging's in-process ``fake://`` transport, and it runs Nova in
eventlet mode (one OS thread).  A second API worker (process) could reach
neither the databases nor the conductor, and more green threads add no CPU:
the API is bounded by one core of Python running Nova's API code, which is
what this measures.
"""

from __future__ import annotations

import argparse
import datetime
import random
import statistics
import sys
import threading
import time
from collections import Counter

import psutil

from localnova.harness import LocalNova, LocalNovaHandle


def hammer(handle: LocalNovaHandle, ids: list[str], *, clients: int, seconds: float) -> dict[str, object]:
    """Send the worker-like mix from ``clients`` threads for ``seconds``; count answers."""
    since = (datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=5)).replace(tzinfo=None).isoformat()
    counts: Counter[str] = Counter()
    latencies: list[float] = []
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def client(seed: int) -> None:
        conn = handle.connect()
        rng = random.Random(seed)
        n = 0
        while time.monotonic() < stop:
            n += 1
            started = time.monotonic()
            if n % 6 == 0:
                list(conn.compute.migrations(changes_since=since))
                path = "GET /os-migrations"
            else:
                conn.compute.get_server(rng.choice(ids))
                path = "GET /servers/{id}"
            with lock:
                counts[path] += 1
                latencies.append(time.monotonic() - started)

    proc = psutil.Process(handle.process.pid)
    cpu_before = sum(proc.cpu_times()[:2])
    started = time.monotonic()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.monotonic() - started
    cpu = sum(proc.cpu_times()[:2]) - cpu_before
    latencies.sort()
    return {
        "requests_per_second": round(sum(counts.values()) / wall, 1),
        "by_path_per_second": {p: round(c / wall, 1) for p, c in counts.items()},
        "latency_median_s": round(statistics.median(latencies), 3),
        "latency_p95_s": round(latencies[int(0.95 * (len(latencies) - 1))], 3),
        "cloud_cpu_percent_of_one_core": round(100 * cpu / wall),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m localnova.apirate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", type=int, default=10)
    parser.add_argument("--servers", type=int, default=200)
    parser.add_argument("--clients", type=int, default=8, help="client threads, one connection each")
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args(argv)
    hosts = [f"host{i + 1}" for i in range(args.hosts)]
    with LocalNova(hosts=hosts, start_timeout=300) as cloud:
        ids = cloud.boot_servers(args.servers, batch=50, timeout=1200)
        result = hammer(cloud, ids, clients=args.clients, seconds=args.seconds)
    print(f"{args.servers} servers, {args.clients} clients, {args.seconds:g} s: {result}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

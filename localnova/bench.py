"""Measure a localnova cloud: start-up, idle CPU, RSS, concurrent migrations.

Usage::

    python -m localnova.bench [--hosts host1,host2,host3] [--servers 20]
                              [--live-migration-seconds 2] [--idle-seconds 10]
                              [--rounds 1] [--json]

It starts the cloud through :class:`localnova.LocalNova` (a subprocess),
samples the subprocess's CPU and RSS with psutil while idle, boots
``--servers`` servers, then live migrates all of them *at the same time*
(one client thread each, scheduler picks the destination) and waits for
every migration to be ``completed``.  With N-second migrations the wall time
stays close to N if nothing serialises; it would be ``servers * N`` if the
shared live-migration executor or a lock serialised them.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import sys
import time
from typing import Any

import psutil

from localnova.harness import LocalNova, LocalNovaHandle


def _cpu_percent(proc: psutil.Process, seconds: float) -> float:
    """Average CPU% (of one core) of the cloud process tree over a window."""
    procs = [proc, *proc.children(recursive=True)]
    before = sum(p.cpu_times().user + p.cpu_times().system for p in procs)
    time.sleep(seconds)
    after = sum(p.cpu_times().user + p.cpu_times().system for p in procs)
    return round(100.0 * (after - before) / seconds, 2)


def _rss_mb(proc: psutil.Process) -> float:
    procs = [proc, *proc.children(recursive=True)]
    return round(sum(p.memory_info().rss for p in procs) / 2**20, 1)


def _migrate_all(cloud: LocalNovaHandle, ids: list[str], timeout: float) -> dict[str, Any]:
    """Live migrate every server concurrently; wait for all to complete."""
    sources = {sid: cloud.conn.compute.get_server(sid).compute_host for sid in ids}

    def one(sid: str) -> tuple[str, float, str]:
        conn = cloud.connect()  # one client per thread, like real workers
        try:
            start = time.monotonic()
            try:
                conn.compute.live_migrate_server(sid, host=None, block_migration="auto")
            except Exception as exc:  # noqa: BLE001 - recorded: we measure
                return f"api-error {type(exc).__name__}", time.monotonic() - start, ""
            deadline = start + timeout
            while time.monotonic() < deadline:
                server = conn.compute.get_server(sid)
                migs = list(conn.compute.migrations(instance_uuid=sid))
                status = migs[0].status if migs else "none"
                if status in ("completed", "error", "failed", "cancelled") and server.status in ("ACTIVE", "ERROR"):
                    return status, time.monotonic() - start, server.compute_host
                time.sleep(0.2)
            return "timeout", time.monotonic() - start, ""
        finally:
            conn.close()

    start = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(len(ids)) as pool:
        results = dict(zip(ids, pool.map(one, ids), strict=True))
    wall = time.monotonic() - start
    statuses: dict[str, int] = {}
    for status, _, _ in results.values():
        statuses[status] = statuses.get(status, 0) + 1
    moved = sum(1 for sid, (_, _, host) in results.items() if host and host != sources[sid])
    per = sorted(d for _, d, _ in results.values())
    return {
        "count": len(ids),
        "wall_s": round(wall, 2),
        "statuses": statuses,
        "moved": moved,
        "per_migration_s": {"min": round(per[0], 2), "median": round(per[len(per) // 2], 2), "max": round(per[-1], 2)},
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run the benchmark; return the figures."""
    hosts = [h for h in args.hosts.split(",") if h]
    out: dict[str, Any] = {
        "hosts": len(hosts),
        "servers": args.servers,
        "live_migration_seconds": args.live_migration_seconds,
    }
    t0 = time.monotonic()
    with LocalNova(hosts=hosts, live_migration_seconds=args.live_migration_seconds) as cloud:
        out["startup_s"] = round(time.monotonic() - t0, 2)
        proc = psutil.Process(cloud.process.pid)
        time.sleep(1)  # let start-up work settle
        out["idle_cpu_percent_empty"] = _cpu_percent(proc, args.idle_seconds)
        out["rss_mb_empty"] = _rss_mb(proc)

        t1 = time.monotonic()
        ids = cloud.boot_servers(args.servers, name_prefix="bench")
        out["boot_s"] = round(time.monotonic() - t1, 2)

        rounds = []
        for _ in range(args.rounds):
            rounds.append(_migrate_all(cloud, ids, args.timeout))
            if rounds[-1]["statuses"].get("completed") != len(ids):
                print(cloud.log_tail(120), file=sys.stderr)
        out["concurrent_live_migrations"] = rounds

        out["idle_cpu_percent_loaded"] = _cpu_percent(proc, args.idle_seconds)
        out["rss_mb_loaded"] = _rss_mb(proc)
        services = list(cloud.conn.compute.services())
        out["services_up"] = sum(1 for s in services if s.state == "up")
        out["services_total"] = len(services)
        stats = cloud.stats()
        out["compute_api_requests"] = stats["total"]
        t2 = time.monotonic()
    out["shutdown_s"] = round(time.monotonic() - t2, 2)
    return out


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m localnova.bench``."""
    parser = argparse.ArgumentParser(prog="python -m localnova.bench", description=__doc__.split("\n")[0])
    parser.add_argument("--hosts", default="host1,host2,host3")
    parser.add_argument("--servers", type=int, default=20)
    parser.add_argument("--live-migration-seconds", type=float, default=2.0)
    parser.add_argument("--idle-seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=1, help="how many times to migrate all servers")
    parser.add_argument("--timeout", type=float, default=120.0, help="per-migration timeout (seconds)")
    parser.add_argument("--json", action="store_true", help="print one JSON object only")
    args = parser.parse_args(argv)
    result = run(args)
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:28} {value}")
    rounds = result["concurrent_live_migrations"]
    ok = all(r["statuses"].get("completed") == r["count"] for r in rounds)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

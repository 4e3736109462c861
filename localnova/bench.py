"""Measure a localnova cloud at scale: boot, concurrent live and cold migrations.

Usage::

    python -m localnova.bench [--hosts 20 | --hosts host1,host2,...] [--servers 1000]
                              [--live-migration-seconds 60] [--cold-migration-seconds 60]
                              [--cold-fraction 0.5] [--rounds 1] [--idle-seconds 0]
                              [--poll-interval 2] [--submit-threads 16] [--boot-batch 50]
                              [--json]

It starts the cloud through :class:`localnova.LocalNova` (a subprocess),
boots ``--servers`` servers (multi-create requests of ``--boot-batch``,
scheduler placement), then asks Nova to move *all* of them at once (a
``--cold-fraction`` share cold, the rest live, the scheduler picks every
destination), confirms every cold migration when it reaches VERIFY_RESIZE
and waits until every migration has ended.  One poller lists
``GET /os-migrations`` every ``--poll-interval`` seconds, so the client
load is constant whatever the number of servers.

Printed: start-up and boot time, migrations completed / failed (by status),
Nova API 5xx answers (not counting injected faults), servers in ERROR, wall
time of the migration round, and the cloud's peak RSS and CPU (process
tree, sampled every second).  Exit status 0 only if every migration
completed with no 5xx and no server in ERROR.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

import psutil

from localnova.harness import LocalNova, LocalNovaHandle

#: Migration statuses after which Nova does nothing more.
LIVE_DONE = frozenset({"completed", "error", "failed", "cancelled"})
COLD_DONE = frozenset({"confirmed", "error", "failed", "reverted"})
#: Statuses counted as success.
SUCCESS = frozenset({"completed", "confirmed"})


class ResourceSampler:
    """Samples RSS and CPU time of a process tree every ``interval`` s.

    Args:
        pid: Root process of the tree (the cloud).
        interval: Sampling period in seconds.
    """

    def __init__(self, pid: int, interval: float = 1.0) -> None:
        self.proc = psutil.Process(pid)
        self.interval = interval
        self.peak_rss_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-sampler", daemon=True)

    def _tree(self) -> list[psutil.Process]:
        return [self.proc, *self.proc.children(recursive=True)]

    def rss_mb(self) -> float:
        """Current RSS of the tree in MiB."""
        return round(sum(p.memory_info().rss for p in self._tree()) / 2**20, 1)

    def cpu_seconds(self) -> float:
        """CPU time (user + system) consumed by the tree so far."""
        return sum(p.cpu_times().user + p.cpu_times().system for p in self._tree())

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.peak_rss_mb = max(self.peak_rss_mb, self.rss_mb())
            except psutil.Error:
                return

    def __enter__(self) -> ResourceSampler:
        self.peak_rss_mb = self.rss_mb()
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


class Window:
    """CPU use of the cloud over a phase: ``with Window(s) as w: ...; w.percent``."""

    def __init__(self, sampler: ResourceSampler) -> None:
        self.sampler = sampler
        self.seconds = 0.0
        self.percent = 0.0

    def __enter__(self) -> Window:
        self._t0 = time.monotonic()
        self._cpu0 = self.sampler.cpu_seconds()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.seconds = round(time.monotonic() - self._t0, 2)
        used = self.sampler.cpu_seconds() - self._cpu0
        self.percent = round(100.0 * used / self.seconds, 1) if self.seconds else 0.0


def parse_hosts(spec: str) -> list[str]:
    """``"20"`` → host1..host20; ``"a,b"`` → [a, b]."""
    if spec.isdigit():
        return [f"host{i}" for i in range(1, int(spec) + 1)]
    return [h for h in spec.split(",") if h]


def _chunks(n: int, size: int) -> Iterator[tuple[int, int]]:
    start = 0
    while start < n:
        yield start, min(size, n - start)
        start += size


def boot(cloud: LocalNovaHandle, n: int, *, batch: int, timeout: float, poll_interval: float) -> list[str]:
    """Boot ``n`` servers in multi-create batches; wait until all are ACTIVE.

    Returns:
        The server ids.

    Raises:
        RuntimeError: A server went to ERROR or the timeout expired.
    """
    ids = cloud.boot_servers(n, name_prefix="bench", batch=batch, wait=False)
    deadline = time.monotonic() + timeout
    wanted = set(ids)
    while True:
        # Cheap list calls (no details) filtered by status.
        errors = [s.id for s in cloud.conn.compute.servers(details=False, status="ERROR") if s.id in wanted]
        if errors:
            raise RuntimeError(f"{len(errors)} servers went to ERROR while booting, e.g. {errors[0]}")
        active = sum(1 for s in cloud.conn.compute.servers(details=False, status="ACTIVE") if s.id in wanted)
        if active == n:
            return ids
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {active}/{n} servers ACTIVE after {timeout}s")
        time.sleep(poll_interval)


def migrate_all(
    cloud: LocalNovaHandle,
    ids: Sequence[str],
    *,
    cold_fraction: float,
    poll_interval: float,
    submit_threads: int,
    timeout: float,
) -> dict[str, Any]:
    """Move every server at once; return outcome counts.

    Every ``round(1 / cold_fraction)``-th server is cold migrated (and
    confirmed at VERIFY_RESIZE), the others live migrated; the scheduler
    picks every destination.
    """
    conn = cloud.conn
    cold_every = round(1 / cold_fraction) if cold_fraction > 0 else 0
    kind = {sid: ("cold" if cold_every and i % cold_every == cold_every - 1 else "live") for i, sid in enumerate(ids)}
    sources = {s.id: s.compute_host for s in conn.compute.servers(details=True) if s.id in kind}
    before = {m.id for m in conn.compute.migrations()}  # uuids (microversion >= 2.59)
    local = threading.local()
    api_errors: dict[str, int] = {}
    errors_lock = threading.Lock()

    def client() -> Any:
        if not hasattr(local, "conn"):
            local.conn = cloud.connect()
        return local.conn

    def record(exc: Exception) -> None:
        key = str(getattr(exc, "status_code", None) or type(exc).__name__)
        with errors_lock:
            api_errors[key] = api_errors.get(key, 0) + 1

    def submit(sid: str) -> bool:
        try:
            if kind[sid] == "cold":
                client().compute.migrate_server(sid)
            else:
                client().compute.live_migrate_server(sid, host=None, block_migration="auto")
        except Exception as exc:  # noqa: BLE001 - counted: we measure
            record(exc)
            return False
        return True

    def confirm(sid: str) -> None:
        try:
            client().compute.confirm_server_resize(sid)
        except Exception as exc:  # noqa: BLE001 - counted
            record(exc)

    start = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(submit_threads) as pool:
        accepted = [sid for sid, ok in zip(ids, pool.map(submit, ids), strict=True) if ok]
        submitted_s = round(time.monotonic() - start, 2)
        latest: dict[str, Any] = {}
        confirming: set[str] = set()
        done: dict[str, str] = {}
        peak_in_flight = 0
        deadline = start + timeout
        while len(done) < len(accepted) and time.monotonic() < deadline:
            time.sleep(poll_interval)
            latest = {}
            for mig in conn.compute.migrations():
                if mig.id not in before and mig.server_id in kind:
                    # Newest first: keep the first record seen per server.
                    latest.setdefault(mig.server_id, mig)
            for sid in accepted:
                mig = latest.get(sid)
                if mig is None or sid in done:
                    continue
                if kind[sid] == "cold" and mig.status == "finished" and sid not in confirming:
                    confirming.add(sid)
                    pool.submit(confirm, sid)
                if mig.status in (COLD_DONE if kind[sid] == "cold" else LIVE_DONE):
                    done[sid] = mig.status
            peak_in_flight = max(peak_in_flight, sum(1 for sid in latest if sid not in done))
    wall = time.monotonic() - start
    statuses: dict[str, int] = {}
    for sid in accepted:
        status = done.get(sid, "timeout")
        statuses[status] = statuses.get(status, 0) + 1
    servers = {s.id: s for s in conn.compute.servers(details=True) if s.id in kind}
    moved = sum(1 for sid in accepted if servers[sid].compute_host != sources.get(sid))
    cold = sum(1 for k in kind.values() if k == "cold")
    return {
        "requested": {"live": sum(1 for k in kind.values() if k == "live"), "cold": cold},
        "accepted": len(accepted),
        "submit_s": submitted_s,
        "peak_in_flight": peak_in_flight,
        "completed": sum(n for st, n in statuses.items() if st in SUCCESS),
        "failed": len(ids) - sum(n for st, n in statuses.items() if st in SUCCESS),
        "statuses": statuses,
        "client_errors": api_errors,
        "moved": moved,
        "servers_error": sum(1 for s in servers.values() if s.status == "ERROR"),
        "wall_s": round(wall, 2),
    }


def api_5xx(stats: dict[str, Any]) -> int:
    """Nova's own 5xx answers: 5xx statuses sent minus injected 500/503."""
    sent = sum(n for code, n in stats["by_status"].items() if code.startswith("5"))
    injected = stats["faults"].get("500", 0) + stats["faults"].get("503", 0)
    return sent - injected


def run_round(cloud: LocalNovaHandle, ids: Sequence[str], args: argparse.Namespace) -> dict[str, Any]:
    """One migration round with the 5xx count of that round."""
    cloud.reset_stats()
    result = migrate_all(
        cloud,
        ids,
        cold_fraction=args.cold_fraction,
        poll_interval=args.poll_interval,
        submit_threads=args.submit_threads,
        timeout=args.timeout,
    )
    stats = cloud.stats()
    result["api_5xx"] = api_5xx(stats)
    result["compute_api_requests"] = stats["total"]
    return result


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run the benchmark; return the figures."""
    hosts = parse_hosts(args.hosts)
    out: dict[str, Any] = {
        "hosts": len(hosts),
        "servers": args.servers,
        "live_migration_seconds": args.live_migration_seconds,
        "cold_migration_seconds": args.cold_migration_seconds,
        "cold_fraction": args.cold_fraction,
        "max_concurrent_live_migrations": args.max_concurrent_live_migrations,
    }
    t0 = time.monotonic()
    with LocalNova(
        hosts=hosts,
        live_migration_seconds=args.live_migration_seconds,
        cold_migration_seconds=args.cold_migration_seconds,
        max_concurrent_live_migrations=args.max_concurrent_live_migrations,
    ) as cloud:
        out["startup_s"] = round(time.monotonic() - t0, 2)
        with ResourceSampler(cloud.process.pid) as sampler:
            out["rss_mb_empty"] = sampler.rss_mb()
            if args.idle_seconds > 0:
                with Window(sampler) as idle:
                    time.sleep(args.idle_seconds)
                out["idle_cpu_percent_empty"] = idle.percent
            with Window(sampler) as booting:
                ids = boot(
                    cloud, args.servers, batch=args.boot_batch, timeout=args.timeout, poll_interval=args.poll_interval
                )
            out["boot_s"] = booting.seconds
            out["boot_cpu_percent"] = booting.percent
            out["rss_mb_booted"] = sampler.rss_mb()
            rounds = []
            for _ in range(args.rounds):
                with Window(sampler) as moving:
                    rounds.append(run_round(cloud, ids, args))
                rounds[-1]["cpu_percent"] = moving.percent
                if rounds[-1]["failed"] or rounds[-1]["api_5xx"] or rounds[-1]["servers_error"]:
                    print(cloud.log_tail(60), file=sys.stderr)
            out["rounds"] = rounds
            out["peak_rss_mb"] = sampler.peak_rss_mb
        services = list(cloud.conn.compute.services())
        out["services_up"] = f"{sum(1 for s in services if s.state == 'up')}/{len(services)}"
        t2 = time.monotonic()
    out["shutdown_s"] = round(time.monotonic() - t2, 2)
    return out


def ok(result: dict[str, Any]) -> bool:
    """Every migration completed, no Nova 5xx, no server in ERROR."""
    return all(r["failed"] == 0 and r["api_5xx"] == 0 and r["servers_error"] == 0 for r in result["rounds"])


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``python -m localnova.bench``."""
    parser = argparse.ArgumentParser(prog="python -m localnova.bench", description=__doc__.split("\n")[0])
    parser.add_argument("--hosts", default="3", help="number of hosts (host1..hostN) or comma-separated names")
    parser.add_argument("--servers", type=int, default=20)
    parser.add_argument("--live-migration-seconds", type=float, default=2.0)
    parser.add_argument("--cold-migration-seconds", type=float, default=2.0)
    parser.add_argument("--cold-fraction", type=float, default=0.0, help="share of cold migrations in [0, 1]")
    parser.add_argument("--idle-seconds", type=float, default=0.0, help="measure idle CPU of the empty cloud first")
    parser.add_argument("--rounds", type=int, default=1, help="how many times to migrate all servers")
    parser.add_argument(
        "--max-concurrent-live-migrations",
        type=int,
        default=0,
        help="Nova's per-host limit (default 0 = unlimited: every migration in flight at once, as measured before "
        "the per-host limit existed; 1 = Nova's default, the rest queue per source)",
    )
    parser.add_argument("--poll-interval", type=float, default=1.0, help="seconds between list calls")
    parser.add_argument("--submit-threads", type=int, default=16, help="client threads sending the requests")
    parser.add_argument("--boot-batch", type=int, default=50, help="servers per multi-create request")
    parser.add_argument("--timeout", type=float, default=1800.0, help="per phase (boot, each round), seconds")
    parser.add_argument("--json", action="store_true", help="print one JSON object only")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m localnova.bench``."""
    args = build_parser().parse_args(argv)
    if not 0.0 <= args.cold_fraction <= 1.0:
        print("--cold-fraction must be in [0, 1]", file=sys.stderr)
        return 2
    result = run(args)
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            if key == "rounds":
                for i, r in enumerate(value, 1):
                    for rkey, rvalue in r.items():
                        print(f"round {i} {rkey:22} {rvalue}")
            else:
                print(f"{key:28} {value}")
    return 0 if ok(result) else 1


if __name__ == "__main__":
    sys.exit(main())

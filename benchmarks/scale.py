"""What a migration in flight costs at scale: the shared Nova observer vs per-migration polling.

One local Nova with ``--hosts`` compute hosts, ``--servers`` servers booted on
the first half of them, one ``watcher-temporal-worker`` process (``worker.py``,
as an operator runs it). Every server is live-migrated to its paired host in
the other half with MigrateServer, all at once (or ``--start-batch`` at a time
every ``--start-every`` seconds, to stay under the local Nova's concurrency
limits), twice: with the worker's Nova observer (``WATCHER_TEMPORAL_NOVA_OBSERVER=1``,
the default) and with today's per-migration polling (``=0``), the second run
moving the servers back. Prints one table, each column a mode, and the ratio.

Figures:

* boot time of the servers;
* peak in flight: most Nova migrations of the run running at once (from the
  records' ``created_at``/``updated_at``);
* Compute API requests per second of the run, and per migration per poll
  interval (requests / (migrations x live seconds / poll)), from localnova's
  counters;
* worker CPU (cores, average over the run) and peak RSS, from /proc;
* history events per workflow (median, max);
* completion lag: workflow close - Nova migration ``updated_at`` (median, p99);
* outcomes;
* the start burst, from the histories (:mod:`benchmarks.attempts`), in total
  and by activity type: activity attempts after the first (retries), attempts
  that ended by heartbeat timeout, by another timeout, and activity cancels in
  workflows nobody asked to cancel; from the worker's log: "Completing activity
  as failed" lines and those of them ended by "Activity cancelled" (a server-side
  timeout as the worker sees it), its largest event-loop lag and its late
  activity starts (both its own measures, logged at shutdown);
* the ramp: seconds from the first start until every migration is running in
  Nova (sampled every ``--sample-every`` s with one ``GET /os-migrations`` the
  figures subtract), and with ``--nova-alone`` the same for the migrations
  asked of localnova directly (no workflows, ``--alone-threads`` at once);
* Compute API requests by path during the ramp (first start until all run);
* steady state: Compute API requests/s by path while every migration runs and
  none starts or ends.

A benchmark, not a test: it asserts nothing.

    .venv/bin/python benchmarks/scale.py --servers 100 --hosts 10 --live-seconds 60 --poll 5
    .venv/bin/python benchmarks/scale.py --servers 200 --hosts 20 --live-seconds 240 --poll 5 \
        --modes observer --nova-alone
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import dataclasses
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from benchmarks.attempts import AttemptAudit, audit, read_worker_log, worker_log_counts
from benchmarks.nova_ramp import NovaSampler, accept_alone, cpu_seconds
from localnova import LocalNova
from localnova.harness import LocalNovaHandle
from localnova.hermetic import without_foreign
from watcher_temporal.binaries import start_dev_server
from watcher_temporal.contract import MigrateServerInput, MigrationResult, MigrationType
from watcher_temporal.process_exit import exit_process
from watcher_temporal.starter import start_migration

REPO = Path(__file__).resolve().parents[1]


@dataclass
class RunFigures:
    """The figures of one mode's run."""

    mode: str
    wall_seconds: float
    peak_in_flight: int
    requests: int
    requests_per_second: float
    requests_per_migration_per_poll: float
    worker_cores: float
    worker_peak_rss_mb: float
    history_median: float
    history_max: int
    lag_median: float
    lag_p99: float
    outcomes: dict[str, int]
    retries: int = 0
    heartbeat_timeouts: int = 0
    other_timeouts: int = 0
    cancels_unasked: int = 0
    failed_attempt_lines: int = 0
    cancelled_attempt_lines: int = 0
    attempts: AttemptAudit = dataclasses.field(default_factory=AttemptAudit)
    loop_lag: str = "< 1"
    late_starts: str = "0"
    ramp_seconds: float = float("nan")
    steady_seconds: float = 0.0
    steady_rates: dict[str, float] = dataclasses.field(default_factory=dict)
    ramp_requests: dict[str, int] = dataclasses.field(default_factory=dict)
    ramp_nova_cores: float = float("nan")


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def nova_time(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def peak_overlap(intervals: list[tuple[datetime, datetime]]) -> int:
    edges = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    peak = current = 0
    for _, step in edges:
        current += step
        peak = max(peak, current)
    return peak


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else float("nan")


def worker_log_figures(path: Path) -> tuple[int, int, str, str]:
    """("Completing activity as failed" lines, those by "Activity cancelled", the largest event-loop lag,
    the late activity starts) of a worker's log (the last two as the worker summed them up at shutdown)."""
    text = read_worker_log(path)
    failed, cancelled = worker_log_counts(text)
    lag = re.search(r"event loop lag: largest ([0-9.]+) s", text)
    late = re.search(r"late activity starts: ([0-9]+), the longest ([0-9.]+) s", text)
    return (
        failed,
        cancelled,
        lag.group(1) if lag else "< 1",
        f"{late.group(1)} (max {late.group(2)} s)" if late else "0",
    )


def start_worker(env: WorkflowEnvironment, cloud: LocalNovaHandle, task_queue: str, *, observer: bool) -> Any:
    worker_env = {
        **without_foreign(),  # the shell's clouds and Temporal never reach it
        **cloud.env(),
        "TEMPORAL_ADDRESS": env.client.service_client.config.target_host,
        "TEMPORAL_NAMESPACE": env.client.namespace,
        "TEMPORAL_TASK_QUEUE": task_queue,
        "WATCHER_TEMPORAL_NOVA_OBSERVER": "1" if observer else "0",
        "WATCHER_TEMPORAL_LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(REPO),
    }
    log = open(worker_log(task_queue), "wb")
    return subprocess.Popen([sys.executable, str(REPO / "worker.py")], cwd=REPO, env=worker_env, stderr=log)


def worker_log(task_queue: str) -> Path:
    return Path(tempfile.gettempdir()) / f"scale-worker-{task_queue}.log"


async def start_all(
    client: Client, moves: list[MigrateServerInput], task_queue: str, args: argparse.Namespace
) -> list[Any]:
    """Start the workflows ``--start-batch`` at once (concurrently), ``--start-every`` seconds apart."""
    handles: list[Any] = []
    for i in range(0, len(moves), args.start_batch):
        batch = moves[i : i + args.start_batch]
        handles += await asyncio.gather(*(start_migration(client, m, task_queue=task_queue) for m in batch))
        if i + args.start_batch < len(moves):
            await asyncio.sleep(args.start_every)
    return handles


async def run_mode(
    client: Client,
    env: WorkflowEnvironment,
    cloud: LocalNovaHandle,
    moves: list[MigrateServerInput],
    args: argparse.Namespace,
    *,
    observer: bool,
) -> RunFigures:
    task_queue = f"scale-{uuid.uuid4().hex[:6]}"
    worker = start_worker(env, cloud, task_queue, observer=observer)
    sampler = NovaSampler(cloud, frozenset(m.resource_id for m in moves), datetime.now(UTC), every=args.sample_every)
    try:
        await asyncio.sleep(3)  # let the worker connect (its start is not part of the figures)
        cloud.reset_stats()
        run_start = sampler.since = datetime.now(UTC)
        sampling = asyncio.ensure_future(sampler.run())
        cpu0, t0 = cpu_seconds(worker.pid), time.monotonic()
        handles = await start_all(client, moves, task_queue, args)
        ended = await asyncio.gather(*(h.result() for h in handles), return_exceptions=True)
        wall = time.monotonic() - t0
        sampling.cancel()
        cores = (cpu_seconds(worker.pid) - cpu0) / wall
        rss = peak_rss_mb(worker.pid)
        requests = int(cloud.stats()["total"]) - len(sampler.samples)
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=60)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
    results = [r for r in ended if isinstance(r, MigrationResult)]
    failures = collections.Counter(type(r).__name__ for r in ended if not isinstance(r, MigrationResult))
    records = {
        str(m.id): m for m in cloud.conn.compute.migrations(changes_since=run_start.strftime("%Y-%m-%dT%H:%M:%SZ"))
    }
    ours = [records[r.migration_id] for r in results if r.migration_id in records]
    intervals = [(nova_time(m.created_at), nova_time(m.updated_at)) for m in ours]
    events, lags, histories = [], [], []
    for handle, result in zip(handles, ended, strict=True):
        histories.append(await handle.fetch_history())
        events.append(len(histories[-1].events))
        if not isinstance(result, MigrationResult):
            continue
        record = records.get(result.migration_id or "")
        closed = (await handle.describe()).close_time
        if record is not None and closed is not None:
            lags.append((closed - nova_time(record.updated_at)).total_seconds())
    polls_per_migration = args.live_seconds / args.poll
    attempts = audit(histories)
    failed_lines, cancelled_lines, loop_lag, late_starts = worker_log_figures(worker_log(task_queue))
    steady_seconds, steady = sampler.steady_rates()
    return RunFigures(
        mode="observer" if observer else "per-migration",
        wall_seconds=wall,
        peak_in_flight=peak_overlap(intervals),
        requests=requests,
        requests_per_second=requests / wall,
        requests_per_migration_per_poll=requests / (len(moves) * polls_per_migration),
        worker_cores=cores,
        worker_peak_rss_mb=rss,
        history_median=statistics.median(events),
        history_max=max(events),
        lag_median=statistics.median(lags) if lags else float("nan"),
        lag_p99=percentile(lags, 0.99),
        outcomes=dict(collections.Counter(r.status.value for r in results)) | dict(failures),
        **attempts.totals(),
        failed_attempt_lines=failed_lines,
        cancelled_attempt_lines=cancelled_lines,
        attempts=attempts,
        loop_lag=loop_lag,
        late_starts=late_starts,
        ramp_seconds=sampler.ramp_seconds(t0),
        steady_seconds=steady_seconds,
        steady_rates=steady,
        ramp_requests=sampler.ramp_requests(),
        ramp_nova_cores=sampler.ramp_nova_cores(),
    )


async def nova_alone(
    cloud: LocalNovaHandle, moves: list[MigrateServerInput], args: argparse.Namespace
) -> tuple[float, float]:
    """(seconds, localnova's cores meanwhile) to have ``moves`` all running when asked directly, a few at once."""
    sampler = NovaSampler(cloud, frozenset(m.resource_id for m in moves), datetime.now(UTC), every=1.0)
    t0 = time.monotonic()
    asking = asyncio.ensure_future(
        asyncio.to_thread(
            accept_alone,
            cloud,
            [(m.resource_id, m.destination_node or "") for m in moves],
            threads=args.alone_threads,
        )
    )
    await asyncio.gather(asking, sampler.run(until_started=True))
    return sampler.ramp_seconds(t0), sampler.ramp_nova_cores()


def print_table(
    args: argparse.Namespace, boot_seconds: float, runs: list[RunFigures], alone_figures: tuple[float, float] | None
) -> None:
    print(
        f"{args.servers} live migrations of {args.live_seconds:g} s on {args.hosts} hosts, poll {args.poll:g} s, "
        f"started {args.start_batch} every {args.start_every:g} s; servers booted in {boot_seconds:.1f} s"
    )
    rows = [
        ("run wall time (s)", "wall_seconds", "{:.1f}"),
        ("peak in flight", "peak_in_flight", "{:d}"),
        ("Compute API requests", "requests", "{:d}"),
        ("requests / s", "requests_per_second", "{:.1f}"),
        ("requests / migration / poll", "requests_per_migration_per_poll", "{:.3f}"),
        ("worker CPU (cores)", "worker_cores", "{:.3f}"),
        ("worker peak RSS (MB)", "worker_peak_rss_mb", "{:.0f}"),
        ("history events median", "history_median", "{:.0f}"),
        ("history events max", "history_max", "{:d}"),
        ("completion lag median (s)", "lag_median", "{:.2f}"),
        ("completion lag p99 (s)", "lag_p99", "{:.2f}"),
        ("activity attempts > 1 (retries)", "retries", "{:d}"),
        ("heartbeat timeouts", "heartbeat_timeouts", "{:d}"),
        ("other activity timeouts", "other_timeouts", "{:d}"),
        ("cancels nobody asked for", "cancels_unasked", "{:d}"),
        ("'activity as failed' log lines", "failed_attempt_lines", "{:d}"),
        ("  of them 'Activity cancelled'", "cancelled_attempt_lines", "{:d}"),
        ("ramp to all running (s)", "ramp_seconds", "{:.1f}"),
        ("localnova CPU in the ramp (cores)", "ramp_nova_cores", "{:.2f}"),
        ("steady-state window (s)", "steady_seconds", "{:.0f}"),
    ]
    header = f"{'':<30}" + "".join(f"{r.mode:>16}" for r in runs)
    if len(runs) == 2:
        header += f"{'ratio':>10}"
    print(header)
    for label, name, fmt in rows:
        values = [getattr(r, name) for r in runs]
        line = f"{label:<30}" + "".join(f"{fmt.format(v):>16}" for v in values)
        if len(runs) == 2 and values[1]:
            line += f"{values[0] / values[1]:>10.3f}"
        print(line)
    print(f"{'event-loop lag max (s)':<30}" + "".join(f"{r.loop_lag:>16}" for r in runs))
    print(f"{'late activity starts':<30}" + "".join(f"{r.late_starts:>16}" for r in runs))
    print(f"{'outcomes':<30}" + "".join(f"{r.outcomes!s:>16}" for r in runs))
    for run in runs:
        print(f"failed attempts by activity type ({run.mode}):")
        print("  " + run.attempts.by_type().replace("\n", "\n  "))
        print(f"ramp ({run.mode}), requests by path from the first start until all ran:")
        for path, count in run.ramp_requests.items():
            print(f"  {path:<50} {count:8d}")
        print(f"steady state ({run.mode}), requests/s by path over {run.steady_seconds:.0f} s:")
        for path, rate in run.steady_rates.items():
            print(f"  {path:<50} {rate:8.2f}")
    if alone_figures is not None:
        alone, cores = alone_figures
        print(
            f"localnova alone accepts the {args.servers} migrations ({args.alone_threads} at once): {alone:.1f} s, "
            f"localnova CPU meanwhile {cores:.2f} cores"
        )
        for run in runs:
            print(f"  ramp / alone ({run.mode}): {run.ramp_seconds / alone:.2f}")


async def main(args: argparse.Namespace) -> None:
    hosts = [f"host{i + 1}" for i in range(args.hosts)]
    sources = hosts[: args.hosts // 2]
    async with await start_dev_server() as env:
        # Every migration of a host runs at once (Nova's per-host queue off): this measures the worker.
        with LocalNova(
            hosts=hosts, live_migration_seconds=args.live_seconds, max_concurrent_live_migrations=0
        ) as cloud:
            t0 = time.monotonic()
            servers = cloud.boot_servers(args.servers, hosts=sources, name_prefix="scale", timeout=3600, batch=50)
            boot_seconds = time.monotonic() - t0

            # Batched boots (multi-create) place a batch where the scheduler says: read where each landed.
            placed = {
                server.id: server.compute_host for server in cloud.conn.compute.servers(details=True, all_projects=True)
            }

            def moves(forward: bool) -> list[MigrateServerInput]:
                out = []
                for server_id in servers:
                    src = placed[server_id]
                    dst = hosts[(hosts.index(src) + len(hosts) // 2) % len(hosts)]
                    out.append(
                        MigrateServerInput(
                            resource_id=server_id,
                            migration_type=MigrationType.LIVE,
                            source_node=src if forward else dst,
                            destination_node=dst if forward else src,
                            poll_interval_seconds=args.poll,
                            timeout_seconds=args.live_seconds * 10 + 600,
                        )
                    )
                return out

            runs = []
            modes = [m.strip() for m in args.modes.split(",")]
            for forward, mode in zip((True, False), modes, strict=False):
                runs.append(await run_mode(env.client, env, cloud, moves(forward), args, observer=mode == "observer"))
            alone = await nova_alone(cloud, moves(len(modes) % 2 == 0), args) if args.nova_alone else None
    print_table(args, boot_seconds, runs, alone)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--servers", type=int, default=1000)
    parser.add_argument("--hosts", type=int, default=20)
    parser.add_argument("--live-seconds", type=float, default=60.0)
    parser.add_argument("--poll", type=float, default=5.0, help="poll interval (Watcher's default is 5)")
    parser.add_argument("--start-batch", type=int, default=1000000, help="workflows started at once")
    parser.add_argument("--start-every", type=float, default=0.0, help="seconds between two batches")
    parser.add_argument("--modes", default="observer,per-migration", help="observer, per-migration or both")
    parser.add_argument("--sample-every", type=float, default=2.0, help="seconds between two looks at Nova")
    parser.add_argument(
        "--nova-alone", action="store_true", help="then time localnova accepting the migrations directly"
    )
    parser.add_argument("--alone-threads", type=int, default=6, help="requests at once in --nova-alone")
    asyncio.run(main(parser.parse_args()))
    exit_process(0)  # no interpreter finalisation racing Temporal's core threads

"""Chaos suite: migrations under worker kills, Nova faults, server restarts and cancels.

Everything is real and separate, as an operator runs it: localnova (Nova 34 +
placement over HTTP), ``temporal server start-dev --db-filename FILE`` (a
persistent database, so the server can be killed and restarted mid-plan) and
``python worker.py`` processes that are SIGKILLed. Each case runs a
MaintenancePlan of short migrations (host1 → host2, live and cold mixed), or
single migrations that are cancelled, and then reads Nova (not the workflows)
to judge every server:

* correct end state: the server idle (no task state) with its original status,
  on the destination if its migration succeeded, on its source if it was
  reverted or cancelled;
* duplicates: servers Nova migrated forward more than once;
* recovery: for each worker kill, the time until the next retried activity
  attempt started (from the workflows' histories).

    .venv/bin/python benchmarks/chaos.py [--short] [--servers 8] [--cases baseline,kill,...]
    .venv/bin/python benchmarks/chaos.py --servers 40 --max-parallel 8 --cases baseline,kill --seed 1

The second line is the kill soak: the plan without kills and with a kill every
5-10 s, back to back, and their ratio. For every kill case the table also
shows the most any retried activity lost to the kill before its retry, and how
long each restarted worker took from its spawn to its first poll (the
server's list of pollers).

Cases: baseline, kill (a SIGKILL every 5-10 s), 5xx, drop, latency, fail-host,
lost (a request Nova applies but whose response is lost), server-restart,
cancel. Prints one table; exits 1 if any end state is wrong or any server was
migrated twice.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client, WorkflowFailureError
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError

from localnova import LocalNova
from localnova.harness import LocalNovaHandle
from localnova.hermetic import without_foreign
from watcher_temporal.binaries import temporal_cli_path
from watcher_temporal.contract import WORKFLOW_TASK_TIMEOUT, MigrateServerInput, PlanStatus, migration_workflow_id
from watcher_temporal.search_attributes import dev_server_args

REPO = Path(__file__).resolve().parents[1]
SOURCE, DEST = "host1", "host2"
CASES = ("baseline", "kill", "5xx", "drop", "latency", "fail-host", "lost", "server-restart", "cancel")


@dataclasses.dataclass
class CaseResult:
    """One row of the table."""

    case: str
    migrations: int
    correct: int
    duplicates: int
    recoveries: list[float]
    wall: float
    notes: str = ""
    #: Per retried activity: its last attempt's start minus the kill before it.
    losses: list[float] = dataclasses.field(default_factory=list)
    #: Per restarted worker that polled: seconds from its spawn to its first poll.
    poll_starts: list[float] = dataclasses.field(default_factory=list)
    #: ... and the CPU seconds it had used by then.
    poll_cpu: list[float] = dataclasses.field(default_factory=list)


class TemporalServer:
    """``temporal server start-dev`` on a database file; killable and restartable."""

    def __init__(self, db_file: Path) -> None:
        self.db_file = db_file
        self.port = _free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.restarts = 0

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        command = [temporal_cli_path(), "server", "start-dev", "--headless", "--ip", "127.0.0.1"]
        command += ["--port", str(self.port), "--db-filename", str(self.db_file), "--log-level", "error"]
        self.proc = subprocess.Popen(
            [*command, *dev_server_args()], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Workers:
    """``python worker.py`` processes on one task queue; one can be SIGKILLed and replaced."""

    def __init__(self, env: dict[str, str], count: int) -> None:
        self.env = env
        self.spawned: dict[int, float] = {}
        self.procs = [self._spawn() for _ in range(count)]
        self.initial = {proc.pid for proc in self.procs}
        self.kills: list[float] = []
        #: Restarted workers (pid) -> seconds from spawn to their first activity poll.
        self.poll_starts: dict[int, float] = {}
        #: ... and the CPU seconds they had used by then (what the start costs on an idle machine).
        self.poll_cpu: dict[int, float] = {}

    async def watch_polls(self, client: Client, task_queue: str) -> None:
        """Record when each restarted worker first polls (the server's list of pollers), until cancelled."""
        request = DescribeTaskQueueRequest(
            namespace=client.namespace,
            task_queue=TaskQueue(name=task_queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
        )
        host = socket.gethostname()
        while True:
            pollers: Sequence[Any]
            try:
                pollers = (await client.workflow_service.describe_task_queue(request)).pollers
            except RPCError:
                pollers = []
            seen = time.monotonic()
            for poller in pollers:
                pid_text, _, poller_host = poller.identity.partition("@")
                pid = int(pid_text) if pid_text.isdigit() and poller_host == host else -1
                if pid in self.spawned and pid not in self.initial and pid not in self.poll_starts:
                    self.poll_starts[pid] = seen - self.spawned[pid]
                    self.poll_cpu[pid] = _cpu_seconds(pid)
            await asyncio.sleep(0.1)

    def _spawn(self) -> subprocess.Popen[bytes]:
        proc = self._popen()
        self.spawned[proc.pid] = time.monotonic()
        return proc

    def _popen(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, str(REPO / "worker.py")],
            cwd=REPO,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def kill_one(self, rng: random.Random) -> None:
        victim = rng.randrange(len(self.procs))
        self.procs[victim].send_signal(signal.SIGKILL)
        self.procs[victim].wait(timeout=10)
        self.kills.append(time.time())
        self.procs[victim] = self._spawn()

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used (nan once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def migrate_input(server_id: str, kind: str) -> dict[str, Any]:
    return {
        "resource_id": server_id,
        "migration_type": kind,
        "source_node": SOURCE,
        "destination_node": DEST,
        "poll_interval_seconds": 0.25,
        "timeout_seconds": 120,
    }


def plan_input(servers: list[str], max_parallel: int = 3) -> dict[str, Any]:
    actions = [
        {
            "id": f"m{i}",
            "action_type": "migrate",
            "input_parameters": migrate_input(server, "live" if i % 2 == 0 else "cold"),
            "parents": [],
        }
        for i, server in enumerate(servers)
    ]
    # max_parallel at once out of one host: the per-source limit (default 1, Nova's) is raised with it.
    return {
        "actions": actions,
        "max_parallel": max_parallel,
        "max_parallel_per_host": max_parallel,
        "max_parallel_per_source": max_parallel,
        "on_failure": "continue",
    }


def judge(cloud: LocalNovaHandle, servers: dict[str, str], expected_host: Callable[[str], str]) -> tuple[int, int]:
    """Count the servers in their right end state and the servers migrated forward twice (Nova's view)."""
    correct = duplicates = 0
    for server_id, status in servers.items():
        server = cloud.conn.compute.get_server(server_id)
        if (server.compute_host, server.status, server.task_state) == (expected_host(server_id), status, None):
            correct += 1
        forward = [m for m in cloud.conn.compute.migrations(server_id=server_id) if m.source_compute == SOURCE]
        duplicates += len(forward) > 1
    return correct, duplicates


async def retried_attempt_starts(client: Client, servers: list[str]) -> list[float]:
    """Start times (epoch) of every retried activity attempt (attempt >= 2) of the servers' migrations."""
    starts = []
    for server_id in servers:
        history = await client.get_workflow_handle(migration_workflow_id(server_id)).fetch_history()
        for event in history.events:
            if event.HasField("activity_task_started_event_attributes"):
                if event.activity_task_started_event_attributes.attempt >= 2:
                    starts.append(event.event_time.ToDatetime().timestamp())
    return starts


def losses(kills: list[float], starts: list[float]) -> list[float]:
    """Per retried attempt that followed a kill: seconds since the latest kill before it.

    A history keeps only an activity's last attempt, so this is what each
    retried activity lost to the last kill that hit it (the retry policy's
    back-off after its heartbeat timeout included).
    """
    out = []
    for start in starts:
        before = [kill for kill in kills if kill < start]
        if before:
            out.append(start - max(before))
    return out


def recoveries(kills: list[float], starts: list[float]) -> list[float]:
    out = []
    for kill in kills:
        later = [s - kill for s in starts if s > kill]
        if later:
            out.append(min(later))
    return out


class Chaos:
    """Runs the cases on one cloud, one Temporal server (db file) and fresh workers per case."""

    def __init__(self, cloud: LocalNovaHandle, server: TemporalServer, args: argparse.Namespace) -> None:
        self.cloud = cloud
        self.server = server
        self.args = args
        self.rng = random.Random(args.seed)
        self.client: Client | None = None

    async def connect(self) -> Client:
        async with asyncio.timeout(60):
            while True:
                try:
                    self.client = await Client.connect(self.server.address, data_converter=pydantic_data_converter)
                    return self.client
                except RuntimeError:
                    await asyncio.sleep(0.5)

    def worker_env(self, task_queue: str) -> dict[str, str]:
        return {
            **without_foreign(),  # the shell's clouds and Temporal never reach it
            **self.cloud.env(),
            "TEMPORAL_ADDRESS": self.server.address,
            "TEMPORAL_NAMESPACE": "default",
            "TEMPORAL_TASK_QUEUE": task_queue,
            "PYTHONPATH": str(REPO),
            "WATCHER_TEMPORAL_LOG_LEVEL": "ERROR",
        }

    def boot(self, count: int) -> dict[str, str]:
        ids = self.cloud.boot_servers(count, hosts=[SOURCE], name_prefix=f"chaos-{uuid.uuid4().hex[:4]}")
        return {server_id: "ACTIVE" for server_id in ids}

    async def plan_case(self, case: str, knobs: dict[str, Any], during: Callable[[Workers], Any] | None) -> CaseResult:
        self.cloud.reset_config()
        servers = self.boot(self.args.servers)
        self.cloud.configure(
            live_migration_seconds=2, cold_migration_seconds=1, max_concurrent_live_migrations=0, **knobs
        )
        self.cloud.reset_stats()
        task_queue = f"chaos-{uuid.uuid4().hex[:6]}"
        workers = Workers(self.worker_env(task_queue), count=2)
        client = await self.connect()
        notes = ""
        restarts_before = self.server.restarts
        started = time.monotonic()
        try:
            handle = await client.start_workflow(
                "MaintenancePlan",
                plan_input(list(servers), self.args.max_parallel),
                id=f"plan-chaos-{case}-{uuid.uuid4().hex[:6]}",
                task_queue=task_queue,
                task_timeout=WORKFLOW_TASK_TIMEOUT,
                result_type=PlanStatus,
            )
            chaos = asyncio.ensure_future(during(workers)) if during is not None else None
            polls = asyncio.ensure_future(workers.watch_polls(client, task_queue))
            try:
                async with asyncio.timeout(self.args.case_timeout):
                    while True:
                        try:
                            status: PlanStatus = await client.get_workflow_handle(
                                handle.id, result_type=PlanStatus
                            ).result()
                            break
                        except RPCError:  # the server was restarting
                            client = await self.connect()
            finally:
                polls.cancel()
                if chaos is not None:
                    chaos.cancel()
                    try:
                        await chaos
                    except (asyncio.CancelledError, Exception) as err:  # noqa: BLE001 - reported in the notes
                        if not isinstance(err, asyncio.CancelledError):
                            notes = f"chaos task: {err!r}"
            wall = time.monotonic() - started
            notes = notes or f"plan {status.state.value}"
        finally:
            workers.stop()
            self.cloud.reset_config()  # judge with a healthy API
            injected = self.cloud.stats().get("faults", {})
            if injected:
                notes += ", faults " + " ".join(f"{kind}={n}" for kind, n in sorted(injected.items()))
        failing = set(knobs.get("live_migration_fail_hosts", [])) | set(knobs.get("cold_migration_fail_hosts", []))
        correct, duplicates = await asyncio.to_thread(
            judge, self.cloud, servers, lambda _sid: SOURCE if DEST in failing else DEST
        )
        client = await self.connect()
        starts = await retried_attempt_starts(client, list(servers))
        recovered = recoveries(workers.kills, starts)
        if workers.kills:
            notes += f", {len(workers.kills)} kills"
        if self.server.restarts != restarts_before:
            notes += f", {self.server.restarts - restarts_before} server restarts"
        return CaseResult(
            case,
            len(servers),
            correct,
            duplicates,
            recovered,
            wall,
            notes,
            losses=losses(workers.kills, starts),
            poll_starts=list(workers.poll_starts.values()),
            poll_cpu=list(workers.poll_cpu.values()),
        )

    async def kill_workers(self, workers: Workers) -> None:
        low, high = self.args.kill_every
        while self.args.max_kills is None or len(workers.kills) < self.args.max_kills:
            await asyncio.sleep(self.rng.uniform(low, high))
            workers.kill_one(self.rng)

    async def restart_server(self, _workers: Workers) -> None:
        for _ in range(self.args.server_restarts):
            await asyncio.sleep(self.rng.uniform(3, 6))
            self.server.kill()
            await asyncio.sleep(1)
            self.server.start()
            self.server.restarts += 1

    async def cancel_case(self) -> CaseResult:
        """Single cold and live migrations, each cancelled after a random delay (every phase gets hit)."""
        self.cloud.reset_config()
        servers = self.boot(self.args.servers)
        self.cloud.configure(
            live_migration_seconds=2, cold_migration_seconds=1, latency_ms=100, max_concurrent_live_migrations=0
        )
        task_queue = f"chaos-{uuid.uuid4().hex[:6]}"
        workers = Workers(self.worker_env(task_queue), count=1)
        client = await self.connect()
        started = time.monotonic()
        ends: dict[str, str] = {}

        async def one(index: int, server_id: str) -> None:
            params = MigrateServerInput.model_validate(migrate_input(server_id, "live" if index % 2 else "cold"))
            handle = await client.start_workflow(
                "MigrateServer",
                params,
                id=migration_workflow_id(server_id),
                task_queue=task_queue,
                task_timeout=WORKFLOW_TASK_TIMEOUT,
            )
            await asyncio.sleep(self.rng.uniform(0.2, 5))
            await handle.cancel()
            try:
                result = await handle.result()
                ends[server_id] = DEST if result["status"] == "SUCCEEDED" else SOURCE
            except WorkflowFailureError as failure:
                ends[server_id] = SOURCE if type(failure.cause).__name__ == "CancelledError" else "wrong"

        try:
            async with asyncio.timeout(self.args.case_timeout):
                await asyncio.gather(*(one(i, sid) for i, sid in enumerate(servers)))
        finally:
            workers.stop()
            self.cloud.reset_config()
        wall = time.monotonic() - started
        correct, duplicates = await asyncio.to_thread(judge, self.cloud, servers, lambda sid: ends.get(sid, "?"))
        cancelled = sum(1 for host in ends.values() if host == SOURCE)
        return CaseResult("cancel", len(servers), correct, duplicates, [], wall, f"{cancelled} cancelled")

    async def run(self, case: str) -> CaseResult:
        faults: dict[str, dict[str, Any]] = {
            "5xx": {"fault_500_rate": 0.15, "fault_503_rate": 0.1},
            "drop": {"fault_drop_rate": 0.15},
            "latency": {"latency_ms": 300},
            "fail-host": {"live_migration_fail_hosts": [DEST], "cold_migration_fail_hosts": [DEST]},
            "lost": {"fault_lost_response_rate": 0.15},
        }
        if case == "cancel":
            return await self.cancel_case()
        if case == "kill":
            return await self.plan_case(case, {}, self.kill_workers)
        if case == "server-restart":
            return await self.plan_case(case, {}, self.restart_server)
        return await self.plan_case(case, faults.get(case, {}), None)


def _max(values: list[float]) -> str:
    return f"{max(values):.1f}" if values else "-"


def _median(values: list[float]) -> str:
    return f"{statistics.median(values):.1f}" if values else "-"


def table(rows: list[CaseResult]) -> str:
    lines = [
        f"{'case':<15} {'migr':>4} {'correct':>7} {'dups':>4} {'recovery s (max)':>16} {'lost/kill s (max)':>17} "
        f"{'poll after restart s (med/max)':>30} {'its CPU s (med)':>15} {'wall s':>7}  notes"
    ]
    for row in rows:
        polls = f"{_median(row.poll_starts)}/{_max(row.poll_starts)}"
        lines.append(
            f"{row.case:<15} {row.migrations:>4} {row.correct:>7} {row.duplicates:>4} {_max(row.recoveries):>16} "
            f"{_max(row.losses):>17} {polls:>30} {_median(row.poll_cpu):>15} {row.wall:>7.1f}  {row.notes}"
        )
    baseline = [r.wall for r in rows if r.case == "baseline"]
    killed = [r.wall for r in rows if r.case == "kill"]
    if baseline and killed:
        lines.append(f"kill / baseline wall time: {killed[-1] / baseline[-1]:.2f}x")
    return "\n".join(lines)


async def run_chaos(args: argparse.Namespace) -> list[CaseResult]:
    """Run the chosen cases; return their rows (also used by the CI test)."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="chaos-") as tmp, LocalNova(hosts=("host1", "host2", "host3")) as cloud:
        server = TemporalServer(Path(tmp) / "temporal.db")
        server.start()
        try:
            chaos = Chaos(cloud, server, args)
            for case in args.cases:
                rows.append(await chaos.run(case))
                print(table(rows[-1:]).splitlines()[1], flush=True)
        finally:
            server.stop()
    return rows


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--short", action="store_true", help="fewer servers, a few minutes in all")
    parser.add_argument("--servers", type=int, default=None, help="migrations per case (default 12, --short 4)")
    parser.add_argument("--cases", default=",".join(CASES), help=f"comma-separated, from {', '.join(CASES)}")
    parser.add_argument(
        "--max-parallel", type=int, default=3, help="the plan's max_parallel and per-host/per-source limits"
    )
    parser.add_argument("--kill-every", type=float, nargs=2, default=(5.0, 10.0), metavar=("MIN", "MAX"))
    parser.add_argument("--max-kills", type=int, default=None, help="stop killing after this many kills")
    parser.add_argument("--server-restarts", type=int, default=2)
    parser.add_argument("--case-timeout", type=float, default=600.0)
    parser.add_argument("--seed", type=int, default=10)
    args = parser.parse_args(argv)
    args.cases = [c for c in args.cases.split(",") if c]
    unknown = [c for c in args.cases if c not in CASES]
    if unknown:
        parser.error(f"unknown case(s) {', '.join(unknown)}; known: {', '.join(CASES)}")
    if args.servers is None:
        args.servers = 4 if args.short else 12
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    rows = asyncio.run(run_chaos(args))
    print()
    print(table(rows))
    bad = [r.case for r in rows if r.correct != r.migrations or r.duplicates]
    if bad:
        print(f"WRONG: {', '.join(bad)}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

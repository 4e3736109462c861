"""What Nova sees during a scale run: the ramp to all running, and steady-state requests by path.

:class:`NovaSampler` reads localnova every few seconds: its request counters
(the control API, not counted) and one ``GET /os-migrations?changes-since``
(counted; the figures subtract exactly one such request per sample). From the
samples come

* the ramp: seconds from the first start until every watched server has a
  migration running (or already done) in Nova;
* steady state: requests per second by path between the first sample after
  the ramp plus one sample of settling and the last sample before any
  migration completed.

:func:`accept_alone` asks localnova for the same live migrations directly
(no workflows, a few threads at once): the time Nova itself needs to accept
them, which the workflows' ramp is compared with.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import os
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from localnova.harness import LocalNovaHandle

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

#: The path template of the sampler's own request.
OWN_PATH = "GET /v2.1/os-migrations"
#: Statuses of a migration that has started copying or is done.
STARTED = frozenset({"running", "post-migrating", "completed", "finished", "confirmed"})
DONE = frozenset({"completed", "finished", "confirmed", "error", "failed", "cancelled"})


def cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) process ``pid`` has used so far, from /proc (nan once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime


@dataclass(frozen=True)
class Sample:
    """One look: when, how many of ours started / done, and the counters then."""

    at: float
    started: int
    done: int
    by_path: dict[str, int]
    #: CPU seconds the localnova process had used by then.
    nova_cpu: float = float("nan")


@dataclass
class NovaSampler:
    """Samples localnova every ``every`` seconds for the migrations of ``servers`` since ``since``."""

    cloud: LocalNovaHandle
    servers: frozenset[str]
    since: datetime
    every: float = 2.0
    samples: list[Sample] = field(default_factory=list)

    def _look(self) -> Sample:
        by_path = dict(self.cloud.stats()["by_path_template"])
        response = self.cloud.conn.compute.get(
            "/os-migrations",
            params={"changes-since": self.since.strftime("%Y-%m-%dT%H:%M:%SZ"), "limit": 1000},
            microversion="2.59",
        )
        newest: dict[str, dict[str, Any]] = {}
        for record in response.json()["migrations"]:
            server = record["instance_uuid"]
            if server in self.servers and (server not in newest or record["id"] > newest[server]["id"]):
                newest[server] = record
        started = sum(1 for r in newest.values() if r["status"] in STARTED)
        done = sum(1 for r in newest.values() if r["status"] in DONE)
        return Sample(
            at=time.monotonic(),
            started=started,
            done=done,
            by_path=by_path,
            nova_cpu=cpu_seconds(self.cloud.process.pid),
        )

    async def run(self, *, until_started: bool = False) -> None:
        """Sample until cancelled (or, ``until_started``, until every migration has started)."""
        while True:
            self.samples.append(await asyncio.to_thread(self._look))
            if until_started and self.samples[-1].started >= len(self.servers):
                return
            await asyncio.sleep(self.every)

    def ramp_seconds(self, t0: float) -> float:
        """Seconds from ``t0`` until every server's migration had started (nan if never seen)."""
        for sample in self.samples:
            if sample.started >= len(self.servers):
                return sample.at - t0
        return float("nan")

    def ramp_nova_cores(self) -> float:
        """Cores the localnova process used from the first sample until every migration had started."""
        ready = next((i for i, s in enumerate(self.samples) if s.started >= len(self.servers)), None)
        if not ready:
            return float("nan")
        first, last = self.samples[0], self.samples[ready]
        return (last.nova_cpu - first.nova_cpu) / (last.at - first.at)

    def ramp_requests(self) -> dict[str, int]:
        """Requests by path from the first sample until the one that saw every migration started (own excluded)."""
        ready = next((i for i, s in enumerate(self.samples) if s.started >= len(self.servers)), None)
        if ready is None or ready == 0:
            return {}
        counts = collections.Counter(self.samples[ready].by_path)
        counts.subtract(self.samples[0].by_path)
        counts[OWN_PATH] -= ready
        return {path: n for path, n in sorted(counts.items()) if n > 0}

    def steady_rates(self) -> tuple[float, dict[str, float]]:
        """(window seconds, requests/s by path) while all run and none has finished; the sampler's own excluded."""
        ready = [i for i, s in enumerate(self.samples) if s.started >= len(self.servers)]
        if not ready:
            return 0.0, {}
        first = ready[0] + 1  # one sample of settling after the last start
        last = first
        while last + 1 < len(self.samples) and self.samples[last + 1].done == 0:
            last += 1
        if last - first < 1:
            return 0.0, {}
        a, b = self.samples[first], self.samples[last]
        seconds = b.at - a.at
        counts = collections.Counter(b.by_path)
        counts.subtract(a.by_path)
        counts[OWN_PATH] -= last - first
        return seconds, {path: n / seconds for path, n in sorted(counts.items()) if n > 0}


def accept_alone(cloud: LocalNovaHandle, moves: list[tuple[str, str]], *, threads: int) -> None:
    """Ask localnova for the live migrations ``(server, destination)`` directly, ``threads`` at once."""
    conn = cloud.conn

    def one(move: tuple[str, str]) -> None:
        server_id, destination = move
        conn.compute.live_migrate_server(server_id, host=destination, block_migration="auto")

    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, moves))

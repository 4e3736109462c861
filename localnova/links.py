"""Link bandwidth and pre-copy model of localnova's migrations (bandwidth mode).

When the knob ``link_mib_per_second`` is > 0, a migration's copy time is not
a fixed number of seconds but follows from what bounds a real one:

* Every compute host has one full-duplex link of ``link_mib_per_second`` in
  each direction.  A migration is a flow from its source's outbound side to
  its destination's inbound side.  Flows sharing a side share its capacity,
  max-min fairly (progressive filling, like TCP flows converging to their
  fair share): a host sending two migrations gives each half its link
  unless one of them is held back elsewhere.
* A live migration copies like libvirt's pre-copy: round 1 copies the root
  disk (block migration only) and then all guest memory; while memory is
  being copied the guest dirties ``dirty_mib_per_second`` (at most its whole
  memory); each next round copies what was dirtied during the previous one.
  When what is left fits in the allowed downtime (``live_migration_downtime_ms``
  at the flow's current rate, Nova's ``[libvirt] live_migration_downtime``)
  the guest is paused and the rest is copied (stop-and-copy).  A migration
  that does not converge (dirty rate >= its share of the link) is aborted
  after ``live_migration_completion_timeout`` seconds per GiB of data, as
  Nova's libvirt driver does (``live_migration_timeout_action = abort``):
  migration ``cancelled``, server ACTIVE on its source.
* A cold migration copies the flavor's root + ephemeral disk once.

Time is wall-clock and event driven: between two changes of the set of flows
every rate is constant, so each flow's end is computed in closed form (a
deadline) and the driver's green thread sleeps until then.  When a flow
starts or ends on a host, the flows touching that host (and, transitively,
those whose share changes) are advanced to "now", given new rates and new
deadlines, and woken to re-plan.  No loop burns CPU per copied byte, so CPU
load does not stretch a copy (it can only delay the wake-up by the event
loop's latency).
"""

from __future__ import annotations

import collections
import copy
import dataclasses
import math
import threading
import time
from typing import Any

MIB = 1024 * 1024
GIB = 1024 * MIB
#: Fraction of the memory a stalled migration re-copies forever.
STALL_FRACTION = 0.5
#: Rounds after which a closed-form plan gives up (treated as not converging).
MAX_ROUNDS = 10_000
#: Finished copies kept for ``GET /localnova/migrations``.
TIMELINE_LENGTH = 20_000


@dataclasses.dataclass
class Flow:
    """One migration's copy on the links.

    Attributes:
        server: Instance UUID.
        kind: ``"live"`` or ``"cold"``.
        source: Source compute host.
        dest: Destination compute host.
        memory_total: Guest memory to copy (bytes; 0 for a cold migration).
        disk_total: Disk to copy (bytes; root disk of a block migration,
            root + ephemeral of a cold one).
        dirty_rate: Bytes per second the guest dirties while memory is copied.
        downtime: Seconds of stop-and-copy allowed (convergence threshold).
        stall: Never converges: every round re-copies half the memory
            (until force-complete pauses the guest, or an abort).
        fail: Ends after half of the first round (a configured failure).
    """

    server: str
    kind: str
    source: str
    dest: str
    memory_total: int
    disk_total: int
    dirty_rate: float = 0.0
    downtime: float = 0.5
    stall: bool = False
    fail: bool = False
    disk_left: float = 0.0
    memory_left: float = 0.0
    dirtied: float = 0.0
    memory_processed: float = 0.0
    disk_processed: float = 0.0
    rounds: int = 1
    paused: bool = False
    final: bool = False
    done: bool = False
    rate: float = 0.0
    updated: float = 0.0
    started: float = 0.0
    started_wall: float = 0.0
    eta: float = math.inf
    wake: threading.Event | None = None

    def __post_init__(self) -> None:
        share = 0.5 if self.fail else 1.0
        self.disk_left = self.disk_total * share
        self.memory_left = self.memory_total * share
        if self.memory_left <= 0 and self.disk_left <= 0:
            self.final = True

    def advance(self, now: float) -> None:
        """Move the copy forward to ``now`` at the current rate."""
        dt = max(now - self.updated, 0.0)
        self.updated = now
        while not self.done:
            if self.disk_left > 0 or self.memory_left > 0:
                if self.rate <= 0 or dt <= 0:
                    return
                dt = self._copy(dt)
                continue
            self._end_round()

    def _copy(self, dt: float) -> float:
        """Copy for up to ``dt`` seconds of the current segment; return the time left."""
        if self.disk_left > 0:
            spent = min(dt, self.disk_left / self.rate)
            moved = self.rate * spent
            self.disk_left = 0.0 if self.disk_left - moved < 1.0 else self.disk_left - moved
            self.disk_processed += moved
            return dt - spent
        spent = min(dt, self.memory_left / self.rate)
        moved = self.rate * spent
        self.memory_left = 0.0 if self.memory_left - moved < 1.0 else self.memory_left - moved
        self.memory_processed += moved
        if not self.paused:
            self.dirtied = min(float(self.memory_total), self.dirtied + self.dirty_rate * spent)
        return dt - spent

    def _end_round(self) -> None:
        """Start the next pre-copy round, or the stop-and-copy, or finish."""
        if self.final or self.fail:
            self.done = True
            return
        if self.stall and not self.paused:
            following = self.memory_total * STALL_FRACTION
        else:
            following = self.dirtied
        self.dirtied = 0.0
        converged = self.paused or (not self.stall and following <= self.rate * self.downtime)
        if converged:
            self.final = self.paused = True
        self.memory_left = following
        self.rounds += 1

    def seconds_to_finish(self) -> float:
        """Seconds until this copy ends at its current rate (inf if it never does)."""
        if self.done:
            return 0.0
        if self.rate <= 0:
            return math.inf
        sim = copy.copy(self)
        sim.wake = None
        total = 0.0
        previous = math.inf
        for _ in range(MAX_ROUNDS):
            if sim.done:
                return total
            if sim.disk_left > 0 or sim.memory_left > 0:
                if not sim.final and sim.disk_left <= 0:
                    if sim.memory_left >= previous:
                        return math.inf  # each round as long as the last: no convergence
                    previous = sim.memory_left
                step = (sim.disk_left + sim.memory_left) / sim.rate
                sim.advance(sim.updated + step)
                total += step
            else:
                sim._end_round()
        return math.inf

    def remaining_memory(self) -> int:
        """Bytes of memory still to copy in this round (as libvirt reports it)."""
        return 0 if self.done else int(self.memory_left)

    def record(self, outcome: str, ended_wall: float, ended: float) -> dict[str, Any]:
        """A finished copy, as ``GET /localnova/migrations`` shows it."""
        return {
            "server": self.server,
            "kind": self.kind,
            "source": self.source,
            "dest": self.dest,
            "outcome": outcome,
            "started_at": self.started_wall,
            "ended_at": ended_wall,
            "seconds": round(ended - self.started, 3),
            "memory_total_bytes": self.memory_total,
            "memory_processed_bytes": int(self.memory_processed),
            "disk_total_bytes": self.disk_total,
            "disk_processed_bytes": int(self.disk_processed),
            "rounds": self.rounds,
        }


def fair_rates(flows: list[Flow], capacity: float) -> dict[int, float]:
    """Max-min fair rates of ``flows`` on full-duplex host links of ``capacity`` bytes/s.

    Progressive filling: the most contended link side fixes the rate of the
    flows crossing it to its equal share; their use is taken off their other
    side; repeat with the rest.

    Returns:
        ``id(flow)`` -> bytes per second.
    """
    users: dict[tuple[str, str], list[Flow]] = collections.defaultdict(list)
    for flow in flows:
        users[(flow.source, "out")].append(flow)
        users[(flow.dest, "in")].append(flow)
    left = dict.fromkeys(users, capacity)
    rates: dict[int, float] = {}
    while len(rates) < len(flows):
        share, side = min(
            (left[side] / sum(id(f) not in rates for f in members), side)
            for side, members in users.items()
            if any(id(f) not in rates for f in members)
        )
        for flow in users[side]:
            if id(flow) in rates:
                continue
            rates[id(flow)] = share
            for other in ((flow.source, "out"), (flow.dest, "in")):
                left[other] = max(left[other] - share, 0.0)
    return rates


class LinkModel:
    """The copies in flight on every host link, and the finished ones."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._flows: dict[int, Flow] = {}
        self.timeline: collections.deque[dict[str, Any]] = collections.deque(maxlen=TIMELINE_LENGTH)

    def start(self, flow: Flow, capacity: float) -> None:
        """Put ``flow`` on the links (re-plans every flow)."""
        now = time.monotonic()
        flow.started = flow.updated = now
        flow.started_wall = time.time()
        flow.wake = flow.wake or threading.Event()
        with self._lock:
            self._flows[id(flow)] = flow
            self._replan(now, capacity)

    def finish(self, flow: Flow, outcome: str, capacity: float) -> dict[str, Any]:
        """Take ``flow`` off the links; record it; re-plan the others."""
        now = time.monotonic()
        with self._lock:
            flow.advance(now)
            self._flows.pop(id(flow), None)
            entry = flow.record(outcome, time.time(), now)
            self.timeline.append(entry)
            self._replan(now, capacity)
        return entry

    def refresh(self, flow: Flow) -> None:
        """Bring ``flow``'s numbers up to now (for a progress write or a wake-up)."""
        with self._lock:
            flow.advance(time.monotonic())

    def pause(self, flow: Flow) -> None:
        """The guest is paused (force-complete): no more dirtying, the next round is the last."""
        with self._lock:
            now = time.monotonic()
            flow.advance(now)
            flow.paused = True
            flow.stall = False
            flow.eta = now + flow.seconds_to_finish()
            if flow.wake is not None:
                flow.wake.set()

    def in_flight(self) -> list[dict[str, Any]]:
        """Copies under way (for ``GET /localnova/migrations``)."""
        with self._lock:
            now = time.monotonic()
            out = []
            for flow in self._flows.values():
                flow.advance(now)
                entry = flow.record("running", time.time(), now)
                entry["rate_bytes_per_second"] = round(flow.rate)
                entry["eta_seconds"] = None if math.isinf(flow.eta) else round(max(flow.eta - now, 0.0), 3)
                out.append(entry)
            return out

    def _replan(self, now: float, capacity: float) -> None:
        flows = list(self._flows.values())
        for flow in flows:
            flow.advance(now)
        rates = fair_rates(flows, capacity) if flows else {}
        for flow in flows:
            rate = rates[id(flow)]
            if rate != flow.rate or math.isinf(flow.eta):
                flow.rate = rate
                flow.eta = now + flow.seconds_to_finish()
                if flow.wake is not None:
                    flow.wake.set()


#: The process-wide model (all computes live in one process).
LINKS = LinkModel()


def record_fixed(entry: dict[str, Any]) -> None:
    """Record a copy of the simple (fixed-seconds) mode in the same timeline."""
    with LINKS._lock:
        LINKS.timeline.append(entry)

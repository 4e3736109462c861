"""Duration-aware order and ETA of a plan's actions: pure functions, no I/O, no clock.

A migration's expected duration is ``overhead + GiB moved / rate`` times a
correction for its source host:

* GiB moved: the flavor's RAM for a live migration, its root + ephemeral
  disk for a cold one (plan input ``server_sizes``,
  :mod:`watcher_temporal.contract.durations`);
* ``overhead`` and ``rate``: the documented defaults until migrations of the
  plan finish, then a least-squares line of seconds over GiB through the
  plan's finished migrations of that type (:func:`observe`);
* the correction: per source host, an exponentially weighted ratio of what
  its migrations took to what the line predicted (a slower link, or
  migrations sharing it).

Order (:class:`ReadyQueue`): actions that are not migrations first, in plan
order (they are short and gate others: disable a host first); then, among
the sources, the one with the most expected work left goes first (its
migrations bound the plan's end), and a source's migrations go longest first
(a long migration started last would finish alone). Every limit still
applies: an action that does not fit waits and the next one is tried.

ETA (:func:`simulate`): the same queue and limits played forward over the
expected durations, from what runs now. :func:`lower_bound` is the bound the
issue sets the goal against: over the source hosts, the largest sum of that
host's migration times at its per-source limit.

The plan workflow uses this module; unit tests and the benchmark run the
same functions over given durations.
"""

from __future__ import annotations

import functools
import heapq
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, cast

from watcher_temporal.contract.durations import (
    DEFAULT_ACTION_SECONDS,
    DEFAULT_GIB_PER_SECOND,
    DEFAULT_OVERHEAD_SECONDS,
    DEFAULT_SERVER_SIZE,
    EWMA_WEIGHT,
    DurationEstimates,
    HostSamples,
)
from watcher_temporal.contract.migrate import ServerSize
from watcher_temporal.contract.plan import ActionParams, ActionType, PlanAction, SleepParams, migration_hosts

#: Plans with more actions left than this get the ETA from bounds, not a simulation (cost).
MAX_SIMULATED_ACTIONS = 2000
#: A running action past its expected end is given this share of what it ran as time left.
OVERRUN_SHARE = 0.1
#: Weight (in migrations) of the prior "this host is like the others" in each host's factor.
PRIOR_SAMPLES = 1.0
#: Smallest seconds per GiB a line may have (a bigger server never takes less time).
MIN_SECONDS_PER_GIB = 0.01


def gib_moved(size: ServerSize, migration_type: str) -> float:
    """What a migration moves: RAM for a live migration, root + ephemeral disk for a cold one."""
    return size.memory_mib / 1024 if migration_type == "live" else float(size.disk_gib)


def _factor_key(migration_type: str, source: str | None) -> str:
    return f"{migration_type}:{source or ''}"


def _default_line(migration_type: str) -> tuple[float, float]:
    overhead = DEFAULT_OVERHEAD_SECONDS.get(migration_type, DEFAULT_OVERHEAD_SECONDS["live"])
    return overhead, 1 / DEFAULT_GIB_PER_SECOND.get(migration_type, DEFAULT_GIB_PER_SECOND["live"])


def _fit_line(
    samples: Mapping[str, HostSamples], factors: Mapping[str, float], default: tuple[float, float]
) -> tuple[float, float]:
    """``(overhead, seconds per GiB)`` through the samples, each host's seconds divided by its factor."""
    n = sum(s.weight for s in samples.values())
    sx = sum(s.sum_x for s in samples.values())
    sxx = sum(s.sum_xx for s in samples.values())
    sy = sum(s.sum_y / factors[k] for k, s in samples.items())
    sxy = sum(s.sum_xy / factors[k] for k, s in samples.items())
    mean_x, mean_y = sx / n, sy / n
    var_x = sxx / n - mean_x * mean_x
    floor = min((s.min_y / factors[k] for k, s in samples.items() if s.min_y is not None), default=mean_y)
    if var_x > 1e-6 * max(1.0, mean_x * mean_x):
        per_gib = (sxy / n - mean_x * mean_y) / var_x
        overhead = mean_y - per_gib * mean_x
        if per_gib >= MIN_SECONDS_PER_GIB and 0 <= overhead <= floor:
            return overhead, per_gib
    # One size seen, or a line that makes no physical sense: the default overhead (at most the
    # shortest migration seen), and the rate that makes the line pass through the mean.
    overhead = min(default[0], floor)
    if mean_x <= 1e-6:
        return mean_y, default[1]
    return overhead, max((mean_y - overhead) / mean_x, MIN_SECONDS_PER_GIB)


@dataclass(frozen=True, slots=True)
class DurationModel:
    """Fitted from :class:`DurationEstimates`: per migration type a line, per host a factor.

    ``seconds = factor(type, host) x (overhead(type) + per_gib(type) x GiB)``;
    the factors of a type average 1 over its hosts' samples, and a host with
    no finished migration of that type gets 1.
    """

    lines: Mapping[str, tuple[float, float]]
    factors: Mapping[str, float]

    @classmethod
    def of(cls, estimates: DurationEstimates, *, rounds: int = 4) -> DurationModel:
        """Fit the model: alternately the shared line and each host's factor (a few rounds converge)."""
        by_type: dict[str, dict[str, HostSamples]] = defaultdict(dict)
        for key, host in estimates.hosts.items():
            if host.weight > 0:
                by_type[key.split(":", 1)[0]][key] = host
        lines: dict[str, tuple[float, float]] = {}
        factors: dict[str, float] = {}
        for migration_type, samples in by_type.items():
            mine = dict.fromkeys(samples, 1.0)
            total = sum(s.weight for s in samples.values())
            line = _default_line(migration_type)
            for _ in range(rounds):
                overhead, per_gib = _fit_line(samples, mine, _default_line(migration_type))
                for key, s in samples.items():
                    mine[key] = s.sum_y / max(s.weight * overhead + per_gib * s.sum_x, 1e-3)
                norm = sum(s.weight * mine[k] for k, s in samples.items()) / total
                mine = {k: f / norm for k, f in mine.items()}
                line = (overhead * norm, per_gib * norm)
            lines[migration_type] = line
            # A host's factor from a few noisy samples is shrunk toward 1 (as if it had also
            # run PRIOR_SAMPLES migrations exactly on the line): the plan's end is the max over
            # hosts, and noise in any one of them would push it up.
            factors.update(
                {
                    k: (samples[k].weight * f + PRIOR_SAMPLES) / (samples[k].weight + PRIOR_SAMPLES)
                    for k, f in mine.items()
                }
            )
        return cls(lines=lines, factors=factors)

    def seconds(self, *, migration_type: str, source: str | None, gib: float) -> float:
        """Expected seconds of one migration moving ``gib`` from ``source``."""
        overhead, per_gib = self.lines.get(migration_type) or _default_line(migration_type)
        return (overhead + per_gib * gib) * self.factors.get(_factor_key(migration_type, source), 1.0)

    def gib_per_second(self, *, migration_type: str, source: str | None) -> float:
        """The rate a source host moves at (what the docs call its observed bandwidth)."""
        _, per_gib = self.lines.get(migration_type) or _default_line(migration_type)
        return 1 / (per_gib * self.factors.get(_factor_key(migration_type, source), 1.0))


def predict(estimates: DurationEstimates, *, migration_type: str, source: str | None, gib: float) -> float:
    """Expected seconds of one migration (fits the model each call: use :class:`DurationModel` in loops)."""
    return DurationModel.of(estimates).seconds(migration_type=migration_type, source=source, gib=gib)


def gib_per_second(estimates: DurationEstimates, *, migration_type: str, source: str | None) -> float:
    """The rate the estimates give a source host."""
    return DurationModel.of(estimates).gib_per_second(migration_type=migration_type, source=source)


def observe(
    estimates: DurationEstimates, *, migration_type: str, source: str | None, gib: float, seconds: float
) -> DurationEstimates:
    """The estimates after one migration of the plan finished (a new object; ``estimates`` is unchanged)."""
    key = _factor_key(migration_type, source)
    old = estimates.hosts.get(key) or HostSamples()
    keep = 1 - EWMA_WEIGHT
    samples = HostSamples(
        weight=keep * old.weight + 1,
        sum_x=keep * old.sum_x + gib,
        sum_y=keep * old.sum_y + seconds,
        sum_xx=keep * old.sum_xx + gib * gib,
        sum_xy=keep * old.sum_xy + gib * seconds,
        min_y=seconds if old.min_y is None else min(old.min_y, seconds),
    )
    return DurationEstimates(hosts={**estimates.hosts, key: samples})


@dataclass(frozen=True, slots=True)
class Job:
    """One action as the order and the ETA see it.

    Attributes:
        id: The action id.
        index: Its place in the plan (ties keep plan order).
        seconds: Expected duration.
        source: A migration's source host (None for other actions).
        destination: A migration's named destination host.
        hosts: Hosts it loads (``max_parallel_per_host``).
        groups: Its exclusive groups.
        parents: Actions that must end first.
    """

    id: str
    index: int
    seconds: float
    source: str | None = None
    destination: str | None = None
    hosts: frozenset[str] = frozenset()
    groups: tuple[str, ...] = ()
    parents: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ActionFacts:
    """What the order and the ETA know of one action that does not change while the plan runs.

    Attributes:
        id: The action id.
        index: Its place in the plan.
        migration_type: ``live`` or ``cold`` for a migration, else None.
        gib: What a migration moves (:func:`gib_moved`).
        seconds: Expected seconds of an action that is not a migration.
        source: A migration's source host.
        destination: A migration's named destination host.
        hosts: Hosts it loads.
        groups: Its exclusive groups.
        parents: Its parents.
    """

    id: str
    index: int
    migration_type: str | None
    gib: float
    seconds: float
    source: str | None
    destination: str | None
    hosts: frozenset[str]
    groups: tuple[str, ...]
    parents: tuple[str, ...]

    def job(self, model: DurationModel) -> Job:
        """The action as a :class:`Job`, its duration from the current model."""
        seconds = self.seconds
        if self.migration_type is not None:
            seconds = model.seconds(migration_type=self.migration_type, source=self.source, gib=self.gib)
        return Job(
            id=self.id,
            index=self.index,
            seconds=seconds,
            source=self.source,
            destination=self.destination,
            hosts=self.hosts,
            groups=self.groups,
            parents=self.parents,
        )


def typical_size(sizes: Mapping[str, ServerSize]) -> ServerSize:
    """The size a server of unknown flavor is given: the median of the plan's known sizes, else the default."""
    if not sizes:
        return DEFAULT_SERVER_SIZE
    ordered = sorted(sizes.values(), key=lambda s: (s.memory_mib, s.disk_gib))
    return ordered[len(ordered) // 2]


def action_facts(
    action: PlanAction,
    index: int,
    *,
    sizes: Mapping[str, ServerSize],
    typical: ServerSize,
    groups: tuple[str, ...] = (),
    typed: ActionParams | None = None,
) -> ActionFacts:
    """The :class:`ActionFacts` of one validated plan action (``typed``: its parameters, if already validated).

    No ``isinstance`` here: inside the workflow sandbox it costs microseconds a call.
    """
    action_type = action.action_type
    params: Any = None
    if action_type is ActionType.MIGRATE or action_type is ActionType.SLEEP:
        params = typed if typed is not None else action.params()
    kind, gib, source, destination = None, 0.0, None, None
    seconds = DEFAULT_ACTION_SECONDS.get(action_type.value, DEFAULT_ACTION_SECONDS["watcher_action"])
    if action_type is ActionType.MIGRATE:
        kind = params.migration_type.value
        gib = gib_moved(sizes.get(params.resource_id, typical), kind)
        source, destination = params.source_node, params.destination_node
    elif action_type is ActionType.SLEEP:
        seconds = cast(SleepParams, params).duration
    return ActionFacts(
        id=action.id,
        index=index,
        migration_type=kind,
        gib=gib,
        seconds=seconds,
        source=source,
        destination=destination,
        hosts=migration_hosts(params if kind is not None else None),
        groups=groups,
        parents=tuple(action.parents),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    """The window's limits (None: no per-source / per-destination limit)."""

    max_parallel: int
    max_parallel_per_host: int
    max_parallel_per_source: int | None = 1
    max_parallel_per_destination: int | None = None


class ReadyQueue:
    """Ready actions, handed out in the duration-aware order (see the module docstring).

    Every action not yet started is counted in its source's work left
    (:meth:`expect`); :meth:`push` makes it ready; :meth:`start_ready` offers
    ready actions to ``try_start`` in order.
    """

    def __init__(self, *, ordered: bool = True) -> None:
        """``ordered`` False hands every job out in plan order (a plan that knows no sizes)."""
        self._ordered = ordered
        self._first: list[tuple[int, str]] = []
        self._by_source: dict[str, list[tuple[float, int, str]]] = defaultdict(list)
        self._work_left: dict[str, float] = defaultdict(float)
        self._jobs: dict[str, Job] = {}

    def __len__(self) -> int:
        return len(self._first) + sum(len(h) for h in self._by_source.values())

    def expect(self, job: Job) -> None:
        """Count a job that has not started yet (ready or waiting for its parents)."""
        self._jobs[job.id] = job
        if job.source is not None:
            self._work_left[job.source] += job.seconds

    def forget(self, action_id: str) -> None:
        """A counted job will never start (cancelled)."""
        job = self._jobs.pop(action_id, None)
        if job is not None and job.source is not None:
            self._work_left[job.source] -= job.seconds

    def push(self, action_id: str) -> None:
        """The job may start (its parents ended); it must have been :meth:`expect`-ed."""
        job = self._jobs[action_id]
        if job.source is None or not self._ordered:
            heapq.heappush(self._first, (job.index, job.id))
        else:
            heapq.heappush(self._by_source[job.source], (-job.seconds, job.index, job.id))

    def clear(self) -> None:
        """Drop every ready job (the plan starts nothing more)."""
        for action_id in [i for _, i in self._first] + [i for h in self._by_source.values() for _, _, i in h]:
            self.forget(action_id)
        self._first.clear()
        self._by_source.clear()

    def start_ready(
        self,
        try_start: Callable[[str], bool],
        *,
        room: Callable[[], bool],
        source_open: Callable[[str], bool],
    ) -> None:
        """Offer ready jobs to ``try_start`` in order until there is no ``room``.

        Args:
            try_start: Starts the job and returns True, or returns False when
                it does not fit (it stays ready).
            room: Whether another job may start at all (the global limit).
            source_open: Whether a job from this source may start (its limit).
        """
        self._drain(self._first, try_start, room)
        sources = sorted((-self._work_left[s], s) for s, heap in self._by_source.items() if heap)
        for _, source in sources:
            if not room():
                return
            if source_open(source):
                self._drain(self._by_source[source], try_start, functools.partial(_both, room, source_open, source))

    def take_first(self, fits: Callable[[str], bool], *, source_open: Callable[[str], bool]) -> str | None:
        """The first ready job in order that ``fits`` (which counts it), taken off the queue; None if none fits."""
        taken: list[str] = []

        def try_start(action_id: str) -> bool:
            if not fits(action_id):
                return False
            taken.append(action_id)
            return True

        self.start_ready(try_start, room=lambda: not taken, source_open=source_open)
        return taken[0] if taken else None

    def _drain(self, heap: list, try_start: Callable[[str], bool], room: Callable[[], bool]) -> None:
        kept = []
        while heap and room():
            item = heapq.heappop(heap)
            if try_start(item[-1]):
                self.forget(item[-1])
            else:
                kept.append(item)
        for item in kept:
            heapq.heappush(heap, item)


@dataclass
class Window:
    """What runs now, counted against :class:`Limits` (the plan's window, for :func:`simulate`)."""

    limits: Limits
    running: int = 0
    host_load: Counter[str] = field(default_factory=Counter)
    source_load: Counter[str] = field(default_factory=Counter)
    destination_load: Counter[str] = field(default_factory=Counter)
    busy_groups: Counter[str] = field(default_factory=Counter)

    def room(self) -> bool:
        """Whether the global limit lets one more action start."""
        return self.running < self.limits.max_parallel

    def source_open(self, source: str) -> bool:
        """Whether one more migration may leave ``source``."""
        limit = self.limits.max_parallel_per_source
        return limit is None or self.source_load[source] < limit

    def fits(self, job: Job) -> bool:
        """Whether ``job`` may start under every limit."""
        limits = self.limits
        if not self.room() or any(self.host_load[h] >= limits.max_parallel_per_host for h in job.hosts):
            return False
        if job.source is not None and not self.source_open(job.source):
            return False
        per_destination = limits.max_parallel_per_destination
        if (
            job.destination
            and per_destination is not None
            and self.destination_load[job.destination] >= per_destination
        ):
            return False
        return not any(self.busy_groups[g] for g in job.groups)

    def take(self, job: Job, count: int) -> None:
        """Count ``job`` starting (1) or ending (-1)."""
        self.running += count
        for counter, keys in (
            (self.host_load, job.hosts),
            (self.source_load, (job.source,) if job.source else ()),
            (self.destination_load, (job.destination,) if job.destination else ()),
            (self.busy_groups, job.groups),
        ):
            for key in keys:
                counter[key] += count


def simulate(
    jobs: Iterable[Job], limits: Limits, *, running: Mapping[str, float] | None = None, ordered: bool = True
) -> dict[str, float]:
    """Play the plan forward over expected durations; each job's expected end (seconds from now).

    Args:
        jobs: Every job still to end (running ones included). Parents not
            among them count as ended.
        limits: The window's limits.
        running: Job id → seconds it still needs, for the jobs running now.
        ordered: False plays plan order (what a plan that knows no sizes does).

    Returns:
        Job id → expected end. Jobs that can never start (a parent missing
        from ``jobs`` never counts as missing) are absent.
    """
    table = {j.id: j for j in jobs}
    running = dict(running or {})
    window = Window(limits)
    queue = ReadyQueue(ordered=ordered)
    waiting: dict[str, int] = {}
    children: dict[str, list[str]] = defaultdict(list)
    ends: dict[str, float] = {}
    events: list[tuple[float, int, str]] = []
    for job in table.values():
        if job.id in running:
            window.take(job, 1)
            heapq.heappush(events, (running[job.id], job.index, job.id))
            continue
        queue.expect(job)
        live_parents = [p for p in job.parents if p in table]
        for parent in live_parents:
            children[parent].append(job.id)
        waiting[job.id] = len(live_parents)
        if not live_parents:
            queue.push(job.id)
    now = 0.0

    def try_start(action_id: str) -> bool:
        job = table[action_id]
        if not window.fits(job):
            return False
        window.take(job, 1)
        heapq.heappush(events, (now + job.seconds, job.index, job.id))
        return True

    while True:
        queue.start_ready(try_start, room=window.room, source_open=window.source_open)
        if not events:
            return ends
        now, _, done = heapq.heappop(events)
        ends[done] = now
        window.take(table[done], -1)
        for child in children[done]:
            waiting[child] -= 1
            if not waiting[child]:
                queue.push(child)


def _both(room: Callable[[], bool], source_open: Callable[[str], bool], source: str) -> bool:
    return room() and source_open(source)


def lower_bound(jobs: Iterable[Job], *, per_source: int | None) -> float:
    """Over the source hosts, the largest sum of its migrations' times at its per-source limit.

    A source's migrations cannot end sooner than their total time spread
    over ``per_source`` slots, nor sooner than its longest one.
    """
    total: dict[str, float] = defaultdict(float)
    longest: dict[str, float] = defaultdict(float)
    for job in jobs:
        if job.source is not None:
            total[job.source] += job.seconds
            longest[job.source] = max(longest[job.source], job.seconds)
    if per_source is None:  # no limit: every migration of a source may run at once
        return max(longest.values(), default=0.0)
    return max((max(total[s] / per_source, longest[s]) for s in total), default=0.0)


def eta_seconds(jobs: list[Job], limits: Limits, *, elapsed: Mapping[str, float]) -> float:
    """Expected seconds until the last of ``jobs`` ends (see :func:`simulate`).

    Args:
        jobs: Every job still to end, at its expected duration.
        limits: The window's limits.
        elapsed: Job id → seconds it has run, for the jobs running now.

    A running job that has already run longer than expected says its source
    is slower than the estimates know (no migration of it may have ended
    yet): that source's jobs are stretched by the overrun (elapsed over
    expected) and the overrunning job gets :data:`OVERRUN_SHARE` of what it
    ran as time left.

    Beyond :data:`MAX_SIMULATED_ACTIONS` jobs, the larger of two bounds
    instead: the busiest source's work at its limit and all the work spread
    over ``max_parallel``.
    """
    if not jobs:
        return 0.0
    stretch: dict[str | None, float] = {}
    for job in jobs:
        if job.id in elapsed and job.source is not None and job.seconds > 0:
            stretch[job.source] = max(stretch.get(job.source, 1.0), elapsed[job.id] / job.seconds)
    stretched = [replace(j, seconds=j.seconds * stretch.get(j.source, 1.0)) for j in jobs]
    running = {j.id: time_left(j.seconds, elapsed[j.id]) for j in stretched if j.id in elapsed}
    if len(jobs) <= MAX_SIMULATED_ACTIONS:
        return max(simulate(stretched, limits, running=running).values(), default=0.0)
    left = [replace(j, seconds=running[j.id]) if j.id in running else j for j in stretched]
    spread = sum(j.seconds for j in left) / limits.max_parallel
    return max(lower_bound(left, per_source=limits.max_parallel_per_source), spread)


def time_left(expected: float, elapsed: float) -> float:
    """Seconds a running action still needs: its estimate less what ran; once overrun, a share of what ran."""
    return max(expected - elapsed, max(expected, elapsed) * OVERRUN_SHARE)

"""One Nova observer per worker process: every wait shares its polls.

Waiting activities register the server they watch and await the observer's
next :class:`Observation` of it instead of calling Nova themselves. Per poll
interval the observer makes a constant number of Compute API requests,
whatever the number of watched migrations:

* ``GET /os-migrations?changes-since=...`` (microversion 2.59+), and
* ``GET /servers/detail?changes-since=...&all_tenants=1`` (deleted servers
  appear there with status ``DELETED``),

both paged by openstacksdk. A server newly watched is first looked for in the
same two lists, reaching back :data:`FIRST_LOOK_LOOKBACK` (its migration was
just started, so both changed since): a burst of hundreds of starts costs Nova
no per-server reads. Only a server (or its records) the lists do not have is
read on its own, once (a wait resumed long after its migration began). The
memory progress of a running live migration (``GET /servers/{id}/migrations``)
is read when its status changes and at most every
:data:`DETAIL_EVERY_SECONDS`, within a budget of
:data:`DETAIL_READS_PER_SECOND` over all watched migrations (the most overdue
first), so a thousand live migrations cost Nova no more per tick than a few
dozen and completion waits behind a bounded number of progress reads; clouds
older than 2.59 get today's per-server reads (logged once).

The loop runs in the worker's event loop; each tick runs in the loop's
default executor (the worker's Nova threads): one thread per tick, however
many activities wait, plus :data:`READ_THREADS` threads for the tick's
per-server reads, so a burst of first looks does not delay the next tick.
A failed tick (5xx, dropped connection) is logged and retried at the next
one; the waits keep waiting (their deadlines bound everything). The loop stops when nothing is watched and on
:meth:`NovaObserver.close`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import logging
import math
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from watcher_temporal.contract import ServerSnapshot
from watcher_temporal.errors import NovaUnavailable

from .nova import MigrationRecord, NovaGateway

logger = logging.getLogger(__name__)

#: ``GET /os-migrations`` accepts ``changes-since`` from this microversion.
CHANGES_SINCE_MICROVERSION = "2.59"
#: A running live migration's memory progress is read at most this often
#: (and whenever its status changes).
DETAIL_EVERY_SECONDS = 30.0
#: Memory-progress reads per second over all watched live migrations: a
#: tick reads at most this times its poll interval (at least one), the most
#: overdue first. With many migrations each is read less often than
#: :data:`DETAIL_EVERY_SECONDS`; completion does not depend on these reads.
DETAIL_READS_PER_SECOND = 2.0
#: A tick longer than this many poll intervals is logged (Nova is slow).
SLOW_TICK_INTERVALS = 2.0
#: ... at most once in this many seconds.
SLOW_TICK_LOG_EVERY_SECONDS = 60.0
#: Threads for a tick's per-server reads (first looks, memory progress).
READ_THREADS = 4
#: ``changes-since`` looks this far behind the previous tick's start, so a
#: row committed late or a small clock skew between worker and Nova is not
#: missed (rows seen twice are harmless: state is replaced by id).
SINCE_MARGIN = timedelta(seconds=10)
#: A newly watched server is first looked for in the two lists, reaching back
#: this far (its migration was started moments ago, so both changed since);
#: only a server or records not found there are read one by one.
FIRST_LOOK_LOOKBACK = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class Observation:
    """What the observer last saw of one server.

    Attributes:
        server: The server, or None once Nova no longer has it.
        records: Its migration records, newest first; a running live
            migration carries the memory progress of its last detail read.
    """

    server: ServerSnapshot | None
    records: tuple[MigrationRecord, ...]


@dataclass(eq=False)
class Watch:
    """One activity's registration: a server, how it moves, how often to look.

    Attributes:
        server_id: The watched server.
        live: A live migration (its memory progress is read).
        poll_interval: Seconds between two looks the activity wants.
        seen: The observer generation this watch last received.
        detail_every: Least interval between two memory-progress reads
            this watch needs (a progress deadline needs fresher numbers
            than the observer's default); None: the observer's default.
    """

    server_id: str
    live: bool
    poll_interval: float
    seen: int = field(default=0)
    detail_every: float | None = None


def observe_directly(nova: NovaGateway, server_id: str, *, live: bool) -> Observation:
    """Today's per-migration reads, for a wait without an observer (blocking).

    The server, its in-progress live migrations (with memory progress) and,
    when none is running, its migration records: two or three GETs.
    """
    server = nova.get_server(server_id)
    if server is None:
        return Observation(server=None, records=())
    in_progress = nova.in_progress_migrations(server_id) if live else []
    records = in_progress or nova.migrations_of(server_id)
    return Observation(server=server, records=tuple(records))


class NovaObserver:
    """Polls Nova for every watched server of this worker process at a constant request rate.

    Args:
        nova: The gateway its reads go through.
        detail_every_seconds: Least interval between two memory-progress
            reads of one running live migration.
        detail_reads_per_second: Budget of memory-progress reads over all
            watched migrations.
        executor: Where the ticks' blocking calls run; the loop's default
            executor (the worker's Nova threads) when None.
    """

    def __init__(
        self,
        nova: NovaGateway,
        *,
        detail_every_seconds: float = DETAIL_EVERY_SECONDS,
        detail_reads_per_second: float = DETAIL_READS_PER_SECOND,
        executor: concurrent.futures.Executor | None = None,
    ) -> None:
        self._nova = nova
        self._executor = executor
        #: Per-server reads of one tick (first looks, memory progress) run
        #: side by side on these few threads; the waits themselves take none.
        self._reads: concurrent.futures.ThreadPoolExecutor | None = None
        self._detail_every = detail_every_seconds
        self._detail_rate = detail_reads_per_second
        self._watches: set[Watch] = set()
        self._task: asyncio.Task[None] | None = None
        self._changed: asyncio.Condition | None = None
        self._generation = 0
        self._latest: dict[str, Observation] = {}
        # Owned by the tick (one runs at a time, in a thread).
        self._shared: bool | None = None
        self._servers: dict[str, ServerSnapshot | None] = {}
        self._records: dict[str, dict[str, MigrationRecord]] = {}
        self._detail_read: dict[str, tuple[float, str]] = {}
        self._since: datetime | None = None
        #: Ticks that published an observation (for tests and benchmarks).
        self.ticks = 0
        #: Ticks whose Nova reads failed.
        self.failed_ticks = 0
        #: Memory-progress reads made (for tests and benchmarks).
        self.detail_reads = 0
        self._slow_logged_at = -math.inf

    @property
    def watching(self) -> int:
        """How many registrations are active."""
        return len(self._watches)

    @property
    def running(self) -> bool:
        """Whether the polling loop is alive."""
        return self._task is not None and not self._task.done()

    def watch(self, server_id: str, *, live: bool, poll_interval: float, detail_every: float | None = None) -> Watch:
        """Register a server; the loop starts if it was idle. Pair with :meth:`unwatch`."""
        watch = Watch(
            server_id=server_id,
            live=live,
            poll_interval=poll_interval,
            seen=self._generation,
            detail_every=detail_every,
        )
        self._watches.add(watch)
        if self._changed is None:
            self._changed = asyncio.Condition()
        if not self.running:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="nova-observer")
        return watch

    def unwatch(self, watch: Watch) -> None:
        """Forget a registration; with none left the loop ends after its current tick."""
        self._watches.discard(watch)

    async def next(self, watch: Watch, *, timeout: float) -> Observation | None:
        """The first observation of ``watch``'s server newer than the last it received.

        Returns:
            The observation, or None when none came within ``timeout``
            seconds (a failed or slow tick): the caller heartbeats, checks
            its deadline and asks again.
        """
        assert self._changed is not None, "watch() first"
        changed = self._changed

        def fresh() -> bool:
            return self._generation > watch.seen and watch.server_id in self._latest

        try:
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow the
            # activity's cancel when the observation arrives at the same time.
            async with asyncio.timeout(timeout), changed:
                await changed.wait_for(fresh)
        except TimeoutError:
            return None
        watch.seen = self._generation
        return self._latest[watch.server_id]

    async def close(self) -> None:
        """Stop polling (worker shutdown); waits still registered get no more observations."""
        self._watches.clear()
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        if self._reads is not None:
            self._reads.shutdown(wait=False, cancel_futures=True)
            self._reads = None

    async def _run(self) -> None:
        while self._watches:
            started = time.monotonic()
            interval = min(w.poll_interval for w in self._watches)
            # Per server: None = no memory progress wanted, else the least detail interval.
            wanted: dict[str, float | None] = {w.server_id: None for w in self._watches}
            for w in self._watches:
                if w.live:
                    every = min(w.detail_every or self._detail_every, self._detail_every)
                    known = wanted[w.server_id]
                    wanted[w.server_id] = every if known is None else min(known, every)
            # Watches with a progress deadline need their reads: outside the budget.
            stalls = frozenset(w.server_id for w in self._watches if w.live and w.detail_every is not None)
            budget = max(1, math.ceil(self._detail_rate * interval))
            try:
                latest = await asyncio.get_running_loop().run_in_executor(
                    self._executor, self._tick, wanted, stalls, budget
                )
            except NovaUnavailable as err:
                self.failed_ticks += 1
                logger.warning("observer: Nova did not answer, trying again next tick: %s", err.message)
            except Exception:
                self.failed_ticks += 1
                logger.exception("observer: tick failed, trying again next tick")
            else:
                self.ticks += 1
                assert self._changed is not None
                async with self._changed:
                    self._latest = latest
                    self._generation += 1
                    self._changed.notify_all()
            took = time.monotonic() - started
            if took > SLOW_TICK_INTERVALS * interval and started - self._slow_logged_at >= SLOW_TICK_LOG_EVERY_SECONDS:
                self._slow_logged_at = started
                logger.warning(
                    "observer: a tick over %d servers took %.1f s (poll interval %.1f s): Nova answers slowly",
                    len(wanted),
                    took,
                    interval,
                )
            if not self._watches:
                break
            interval = min(w.poll_interval for w in self._watches)
            await asyncio.sleep(max(0.0, interval - (time.monotonic() - started)))
        self._latest = {}

    # -- one tick (blocking, in a thread) -----------------------------------

    def _tick(self, wanted: dict[str, float | None], stalls: frozenset[str], budget: int) -> dict[str, Observation]:
        started = datetime.now(UTC)
        if self._reads is None:
            self._reads = concurrent.futures.ThreadPoolExecutor(READ_THREADS, thread_name_prefix="nova-observer-read")
        reads = self._reads
        for gone in set(self._servers) - set(wanted):
            self._servers.pop(gone, None)
            for migration_id in self._records.pop(gone, {}):
                self._detail_read.pop(migration_id, None)
        if self._shared is None:
            self._shared = self._nova.supports_microversion(CHANGES_SINCE_MICROVERSION)
            if not self._shared:
                logger.warning(
                    "observer: the compute API is older than %s (no changes-since on os-migrations); "
                    "reading each watched server on every tick",
                    CHANGES_SINCE_MICROVERSION,
                )
        new = [server_id for server_id in wanted if server_id not in self._servers]
        if not self._shared:
            self._read_each(list(wanted), list(wanted))
        elif new or self._since is not None:
            # Newly watched servers are looked up in the same two lists, reaching
            # back FIRST_LOOK_LOOKBACK: a burst of starts costs no per-server reads.
            since = self._since
            if new:
                lookback = started - FIRST_LOOK_LOOKBACK
                since = lookback if since is None else min(since, lookback)
            assert since is not None
            unseen, without_records = self._read_changes(since, new)
            self._read_each(unseen, without_records)
        self._since = started - SINCE_MARGIN
        due = self._details_due(wanted, stalls, budget)
        self.detail_reads += len(due)
        for server_id, details in zip(due, reads.map(self._nova.in_progress_migrations, due), strict=True):
            for detail in details:
                self._merge(server_id, dataclasses.replace(detail, server_id=server_id))
        return {
            server_id: Observation(
                server=self._servers.get(server_id),
                records=tuple(sorted(self._records.get(server_id, {}).values(), key=_id_order, reverse=True)),
            )
            for server_id in wanted
        }

    def _read_changes(self, since: datetime, new: list[str]) -> tuple[list[str], list[str]]:
        """The two shared list calls: everything changed since ``since``.

        Returns:
            The ``new`` servers the server list did not have, and those the
            migration list had no record of: they get per-server reads.
        """
        unseen, without_records = set(new), set(new)
        for record in self._nova.migrations_changed_since(since):
            if record.server_id in self._records or record.server_id in unseen:
                self._records.setdefault(record.server_id, {})
                self._merge(record.server_id, record)
                without_records.discard(record.server_id)
        for server_id, server in self._nova.servers_changed_since(since):
            if server_id in self._servers or server_id in unseen:
                self._servers[server_id] = server
                unseen.discard(server_id)
        return [s for s in new if s in unseen], [s for s in new if s in without_records]

    def _read_each(self, servers: list[str], records_of: list[str]) -> None:
        """Per-server reads (on the tick's read threads): ``servers`` in full, ``records_of`` their records only."""
        assert self._reads is not None
        reads = self._reads
        records_only = [s for s in records_of if s not in set(servers)]
        for server_id, (server, records) in zip(servers, reads.map(self._read_server, servers), strict=True):
            self._servers[server_id] = server
            self._store(server_id, records)
        for server_id, records in zip(records_only, reads.map(self._nova.migrations_of, records_only), strict=True):
            self._store(server_id, records)

    def _store(self, server_id: str, records: list[MigrationRecord]) -> None:
        self._records.setdefault(server_id, {})
        for record in records:
            self._merge(server_id, record)

    def _read_server(self, server_id: str) -> tuple[ServerSnapshot | None, list[MigrationRecord]]:
        """First look at a server the lists did not have (and every look on an old cloud); reads only."""
        return self._nova.get_server(server_id), self._nova.migrations_of(server_id)

    def _merge(self, server_id: str, record: MigrationRecord) -> None:
        """Replace a record, keeping the memory progress os-migrations does not carry."""
        known = self._records[server_id].get(record.id)
        if known is not None:
            kept = {name: getattr(known, name) for name in _KEPT_FIELDS if getattr(record, name) is None}
            record = dataclasses.replace(record, **kept)
        self._records[server_id][record.id] = record

    def _details_due(self, wanted: dict[str, float | None], stalls: frozenset[str], budget: int) -> list[str]:
        """The servers whose running live migration's memory progress this tick reads.

        Due: its status changed since the last read (or it was never read),
        or its last read is older than the watch's detail interval. Servers
        watched for a progress deadline (``stalls``) get every due read; the
        others at most ``budget``, the most overdue first (a changed status
        first of all); the rest wait for a later tick.
        """
        now = time.monotonic()
        candidates: list[tuple[float, str, MigrationRecord]] = []
        for server_id, every in wanted.items():
            if every is None:
                continue
            running = [
                r
                for r in self._records.get(server_id, {}).values()
                if not r.is_final and r.migration_type in (None, "live-migration")
            ]
            if not running:
                continue
            record = max(running, key=_id_order)
            last = self._detail_read.get(record.id)
            if last is None or last[1] != record.status:
                overdue = math.inf
            else:
                overdue = (now - last[0]) / every
                if overdue < 1.0:
                    continue
            if server_id in stalls:
                overdue = math.inf  # a progress deadline must not fire for want of a read
                budget += 1
            candidates.append((overdue, server_id, record))
        candidates.sort(key=lambda c: c[0], reverse=True)
        chosen = candidates[:budget]
        for _, _, record in chosen:
            self._detail_read[record.id] = (now, record.status)
        return [server_id for _, server_id, _ in chosen]


#: Fields one source of a record lacks and the other has (memory progress
#: only in the detail read, the migration type only in os-migrations).
_KEPT_FIELDS = (
    "migration_type",
    "memory_total_bytes",
    "memory_processed_bytes",
    "memory_remaining_bytes",
    "disk_total_bytes",
)


def _id_order(record: MigrationRecord) -> int:
    return int(record.id)

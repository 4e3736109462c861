"""The worker's Nova observer on real Nova (localnova): constant requests per poll, whatever N.

Counts come from localnova's own request counters (``stats()``), so they
count what reached the Compute API, not what the observer thinks it sent.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
from collections.abc import AsyncIterator, Iterator

import pytest

from localnova.harness import LocalNovaHandle
from tests.conditions import until
from tests.realstack import boot_on
from watcher_temporal.activities.nova import NovaGateway
from watcher_temporal.activities.observer import NovaObserver, Observation, Watch

pytestmark = pytest.mark.integration

POLL = 0.5
#: Ticks counted once every migration runs.
TICKS = 6


@pytest.fixture
def nova(localnova: LocalNovaHandle) -> Iterator[NovaGateway]:
    gateway = NovaGateway(connect=localnova.connect)
    yield gateway
    gateway.close()


def get_requests(localnova: LocalNovaHandle) -> int:
    return sum(n for key, n in localnova.stats()["by_path_template"].items() if key.startswith("GET "))


async def watch_all(observer: NovaObserver, server_ids: list[str]) -> dict[str, Watch]:
    return {sid: observer.watch(sid, live=True, poll_interval=POLL) for sid in server_ids}


async def latest(observer: NovaObserver, watches: dict[str, Watch]) -> dict[str, Observation]:
    looks = {sid: await observer.next(w, timeout=10) for sid, w in watches.items()}
    assert all(look is not None for look in looks.values()), "the observer published no observation"
    return {sid: look for sid, look in looks.items() if look is not None}


def all_running_with_progress(looks: dict[str, Observation]) -> bool:
    return all(
        look.records and look.records[0].status == "running" and look.records[0].memory_total_bytes
        for look in looks.values()
    )


@contextlib.asynccontextmanager
async def running_live_migrations(
    localnova: LocalNovaHandle, observer: NovaObserver, n: int, *, seconds: float
) -> AsyncIterator[dict[str, Watch]]:
    """``n`` live migrations of ``seconds``, all watched and showing memory progress; aborted after."""
    # All n at once: Nova's per-host queue off (this is about the observer's requests, not Nova's queue).
    localnova.configure(live_migration_seconds=seconds, max_concurrent_live_migrations=0)
    servers = [boot_on(localnova, host) for host in ("host1", "host2") for _ in range(n // 2)]
    for sid in servers:
        localnova.conn.compute.live_migrate_server(sid, host="host3", block_migration="auto")
    watches = await watch_all(observer, servers)
    try:
        looks: dict[str, Observation] = {}

        async def running() -> bool:
            looks.update(await latest(observer, watches))
            return all_running_with_progress(looks)

        await until(running, timeout=60, what=f"all {n} live migrations run with memory progress")
        yield watches
    finally:
        await observer.close()
        for sid in servers:  # leave the cloud idle for the next test
            for m in localnova.conn.compute.server_migrations(sid):
                localnova.conn.compute.abort_server_migration(m, sid, ignore_missing=True)
        await until(
            lambda: all(localnova.conn.compute.get_server(sid).task_state is None for sid in servers),
            timeout=60,
            what="every aborted migration settled",
        )


async def requests_per_tick(localnova: LocalNovaHandle, nova: NovaGateway, n: int) -> float:
    """Start ``n`` long live migrations, watch them all, count GETs per tick once they all run."""
    observer = NovaObserver(nova)
    async with running_live_migrations(localnova, observer, n, seconds=30) as watches:
        localnova.reset_stats()
        first = observer.ticks
        await until(lambda: observer.ticks >= first + TICKS, timeout=60, what=f"{TICKS} more observer ticks")
        ticks = observer.ticks - first
        count = get_requests(localnova)
        looks = await latest(observer, watches)
        assert all_running_with_progress(looks)  # still running: the window saw only steady ticks
    return count / ticks


async def test_requests_per_poll_do_not_grow_with_the_number_of_migrations(
    localnova: LocalNovaHandle, nova: NovaGateway
) -> None:
    few = await requests_per_tick(localnova, nova, 4)
    many = await requests_per_tick(localnova, nova, 16)
    # Two list calls per tick (os-migrations, servers/detail), whatever N; the
    # tick during which stats were reset may be counted in part.
    assert few <= 3
    assert many <= 3
    # Per-migration polling would make 2 GETs per migration per poll: 32 for 16.


async def test_no_polling_without_watchers(localnova: LocalNovaHandle, nova: NovaGateway) -> None:
    server_id = boot_on(localnova, "host1")
    observer = NovaObserver(nova)
    watch = observer.watch(server_id, live=True, poll_interval=POLL)
    look = await observer.next(watch, timeout=10)
    assert look is not None and look.server is not None and look.server.host == "host1"
    observer.unwatch(watch)
    await until(lambda: not observer.running, timeout=10, what="the observer loop stops")
    localnova.reset_stats()
    await asyncio.sleep(3 * POLL)  # nothing to await: the point is that nothing happens
    assert get_requests(localnova) == 0
    await observer.close()


async def test_a_deleted_server_is_observed_as_gone(localnova: LocalNovaHandle, nova: NovaGateway) -> None:
    server_id = boot_on(localnova, "host1")
    observer = NovaObserver(nova)
    watch = observer.watch(server_id, live=False, poll_interval=POLL)
    try:
        first = await observer.next(watch, timeout=10)
        assert first is not None and first.server is not None
        localnova.conn.compute.delete_server(server_id)

        async def gone() -> bool:
            look = await observer.next(watch, timeout=10)
            return look is not None and look.server is None

        await until(gone, timeout=30, what="the observer sees the deleted server (servers/detail changes-since)")
    finally:
        await observer.close()


async def test_a_failed_tick_is_retried_without_ending_the_watch(localnova: LocalNovaHandle, nova: NovaGateway) -> None:
    server_id = boot_on(localnova, "host1")
    observer = NovaObserver(nova)
    watch = observer.watch(server_id, live=False, poll_interval=POLL)
    try:
        assert await observer.next(watch, timeout=10) is not None
        localnova.configure(fault_500_rate=1.0, fault_methods=["GET"])
        await until(lambda: observer.failed_ticks >= 2, timeout=60, what="two ticks fail on 500s")
        localnova.configure(fault_500_rate=0.0)
        look = await observer.next(watch, timeout=30)
        assert look is not None and look.server is not None and look.server.host == "host1"
    finally:
        await observer.close()


async def test_a_thousand_waits_take_no_thread_of_their_own(
    localnova: LocalNovaHandle, nova: NovaGateway, caplog: pytest.LogCaptureFixture
) -> None:
    """1,000 registered waits need no thread: one tick thread (plus the observer's few read threads) serves them."""
    servers = [boot_on(localnova, "host1") for _ in range(10)]
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="observer") as one_thread:
        observer = NovaObserver(nova, executor=one_thread)
        watches = [observer.watch(servers[i % 10], live=True, poll_interval=POLL) for i in range(1000)]
        try:
            for _ in range(3):  # three rounds: every wait gets three fresh observations
                looks = await asyncio.gather(*(observer.next(w, timeout=30) for w in watches))
                assert all(look is not None and look.server is not None for look in looks)
        finally:
            await observer.close()
    assert observer.ticks >= 3 and observer.failed_ticks == 0
    assert not [r for r in caplog.records if "Connection pool is full" in r.getMessage()]


async def test_progress_reads_stay_within_their_budget_and_reach_every_migration(
    localnova: LocalNovaHandle, nova: NovaGateway
) -> None:
    """Memory progress of many live migrations is read round-robin within a per-tick budget.

    Every migration wants a fresh read on every tick (``detail_every_seconds``
    tiny); the budget (2 reads/s x 0.5 s = 1 read per tick) holds anyway and
    every migration still gets its memory progress, the most overdue first.
    """
    n = 8
    observer = NovaObserver(nova, detail_every_seconds=0.01, detail_reads_per_second=2.0)
    async with running_live_migrations(localnova, observer, n, seconds=60):
        first_ticks, first_reads = observer.ticks, observer.detail_reads
        await until(lambda: observer.ticks >= first_ticks + 2 * n, timeout=60, what=f"{2 * n} more ticks")
        ticks, reads = observer.ticks - first_ticks, observer.detail_reads - first_reads
        assert reads <= ticks + 1  # one per tick (the tick running at the first count may add one)
        assert reads >= ticks - 1  # and the budget is used: every migration is always overdue

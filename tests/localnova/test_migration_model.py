"""What bounds a migration in localnova: Nova's per-host limit, shared links, pre-copy.

Unit tests of the link model (:mod:`localnova.links`, no cloud) and tests
through unmodified openstacksdk on the session cloud (host1..host3).
"""

from __future__ import annotations

import math
import time
from typing import Any

import pytest

from localnova.harness import LocalNovaHandle
from localnova.links import GIB, MIB, Flow, fair_rates
from tests.localnova.test_localnova import (
    boot_on,
    in_progress,
    last_status,
    running_migration,
    servers,  # noqa: F401  (fixture)
    wait_for,
)


def flow(name: str, source: str, dest: str, **kwargs: Any) -> Flow:
    return Flow(server=name, kind="live", source=source, dest=dest, **{"memory_total": GIB, "disk_total": 0} | kwargs)


# -- the model alone ----------------------------------------------------------


def test_fair_rates_share_each_side_of_a_link_max_min() -> None:
    a, b = flow("a", "h1", "h2"), flow("b", "h1", "h3")
    c, d = flow("c", "h4", "h3"), flow("d", "h5", "h3")
    rates = fair_rates([a, b, c, d], 90.0)
    # h3's inbound side carries b, c, d: 30 each; h1's outbound side gives a the rest.
    assert [rates[id(f)] for f in (a, b, c, d)] == [60.0, 30.0, 30.0, 30.0]
    # Full duplex: h1 sending and receiving at once does not share one side.
    out, back = flow("out", "h1", "h2"), flow("back", "h2", "h1")
    assert set(fair_rates([out, back], 90.0).values()) == {90.0}


def test_pre_copy_rounds_converge_in_closed_form() -> None:
    quiet = flow("q", "h1", "h2")
    quiet.rate = 128 * MIB
    assert quiet.seconds_to_finish() == pytest.approx(8.0)  # 1 GiB / 128 MiB/s
    busy = flow("b", "h1", "h2", dirty_rate=32 * MIB)
    busy.rate = 128 * MIB
    # Rounds of 8 s, 2 s, then 64 MiB fits the 0.5 s downtime: stop-and-copy 0.5 s.
    assert busy.seconds_to_finish() == pytest.approx(10.5)
    busy.advance(busy.updated + 10.5)
    assert busy.done and busy.rounds == 3
    assert busy.memory_processed == pytest.approx((1024 + 256 + 64) * MIB)  # re-sent pages count, as in libvirt
    block = flow("k", "h1", "h2", disk_total=2 * GIB)
    block.rate = 128 * MIB
    assert block.seconds_to_finish() == pytest.approx(16.0 + 8.0)  # disk first (not dirtied), then memory


def test_a_guest_dirtying_faster_than_its_share_never_converges() -> None:
    hot = flow("h", "h1", "h2", dirty_rate=200 * MIB)
    hot.rate = 128 * MIB
    assert math.isinf(hot.seconds_to_finish())
    hot.paused = True  # force-complete pauses the guest: the rest is copied once
    assert hot.seconds_to_finish() == pytest.approx(8.0)


# -- through Nova -------------------------------------------------------------


def test_max_concurrent_live_migrations_is_per_source_host(localnova: LocalNovaHandle, servers: list[str]) -> None:  # noqa: F811
    conn = localnova.conn
    assert localnova.config()["max_concurrent_live_migrations"] == 1  # Nova's default
    first, second = boot_on(localnova, servers, "host1"), boot_on(localnova, servers, "host1")
    other = boot_on(localnova, servers, "host2")
    localnova.configure(live_migration_seconds=1, live_migration_stall_servers=[first.id, other.id])
    conn.compute.live_migrate_server(first, host="host3", block_migration="auto")
    running_migration(localnova, first.id)
    conn.compute.live_migrate_server(second, host="host2", block_migration="auto")
    conn.compute.live_migrate_server(other, host="host3", block_migration="auto")
    # host1's one slot holds the first copy; host2 has its own slot.
    wait_for(lambda: [m.status for m in in_progress(localnova, second.id)] == ["queued"], what="second queued")
    running_migration(localnova, other.id)
    time.sleep(1.5)  # longer than the second's copy would take: it must still wait
    assert [m.status for m in in_progress(localnova, second.id)] == ["queued"]
    conn.compute.abort_server_migration(running_migration(localnova, first.id), first.id)
    # The slot frees: the queued one runs (1 s) and completes.
    wait_for(lambda: last_status(localnova, second.id) == "completed", what="queued one completed")
    conn.compute.abort_server_migration(running_migration(localnova, other.id), other.id)
    wait_for(lambda: last_status(localnova, other.id) == "cancelled", what="abort")


def test_migrations_on_one_link_share_its_bandwidth(localnova: LocalNovaHandle, servers: list[str]) -> None:  # noqa: F811
    conn = localnova.conn
    a, b = boot_on(localnova, servers, "host1"), boot_on(localnova, servers, "host1")
    # Stalled copies never end, so the shares can be read at leisure.
    localnova.configure(
        link_mib_per_second=256, max_concurrent_live_migrations=0, live_migration_stall_servers=[a.id, b.id]
    )
    conn.compute.live_migrate_server(a, host="host2", block_migration="auto")
    wait_for(lambda: _rates(localnova) == {a.id: 256 * MIB}, what="a alone at the full link")
    conn.compute.live_migrate_server(b, host="host3", block_migration="auto")
    wait_for(lambda: _rates(localnova) == {a.id: 128 * MIB, b.id: 128 * MIB}, what="host1's link shared")
    m = running_migration(localnova, b.id)
    assert m.memory_total_bytes == 512 * MIB  # m1.tiny
    conn.compute.abort_server_migration(m, b.id)
    wait_for(lambda: _rates(localnova) == {a.id: 256 * MIB}, what="a back to the full link")
    wait_for(lambda: _in_flight(localnova, a.id)["rounds"] >= 2, what="a second pre-copy round")
    conn.compute.force_complete_server_migration(running_migration(localnova, a.id), a.id)
    wait_for(lambda: last_status(localnova, a.id) == "completed", what="forced copy completed")
    done = [e for e in localnova.migrations()["finished"] if e["server"] == a.id][-1]
    assert done["outcome"] == "forced" and done["rounds"] >= 2
    assert done["memory_processed_bytes"] > done["memory_total_bytes"]  # half re-sent every stalled round


def test_bandwidth_mode_durations_follow_flavor_sizes(localnova: LocalNovaHandle, servers: list[str]) -> None:  # noqa: F811
    conn = localnova.conn
    live, cold = boot_on(localnova, servers, "host1"), boot_on(localnova, servers, "host2")
    conn.compute.stop_server(cold)
    localnova.wait_server(cold.id, "SHUTOFF")
    localnova.reset_migrations()
    # m1.tiny: 512 MiB RAM, 1 GiB root disk; 256 MiB/s links, 64 MiB/s dirty rate.
    localnova.configure(link_mib_per_second=256, dirty_mib_per_second=64)
    conn.compute.live_migrate_server(live, host="host3", block_migration=False)
    conn.compute.migrate_server(cold, host="host3")  # host3's inbound side is shared while both copy
    wait_for(lambda: last_status(localnova, live.id) == "completed", what="live migration")
    localnova.wait_server(cold.id, "VERIFY_RESIZE")
    conn.compute.confirm_server_resize(cold)
    finished = {e["server"]: e for e in localnova.migrations()["finished"]}
    copy, disk = finished[live.id], finished[cold.id]
    assert copy["rounds"] >= 2 and copy["memory_processed_bytes"] > 512 * MIB
    assert disk["kind"] == "cold" and disk["disk_total_bytes"] == GIB
    # Alone: live 2 s + 0.5 s + stop-and-copy, cold 4 s; sharing host3 can only stretch them.
    assert copy["seconds"] >= 2.4 and disk["seconds"] >= 3.9
    assert copy["seconds"] < 10 and disk["seconds"] < 10


def _rates(cloud: LocalNovaHandle) -> dict[str, int]:
    return {e["server"]: e["rate_bytes_per_second"] for e in cloud.migrations()["in_flight"]}


def _in_flight(cloud: LocalNovaHandle, server: str) -> dict[str, Any]:
    return next(e for e in cloud.migrations()["in_flight"] if e["server"] == server)

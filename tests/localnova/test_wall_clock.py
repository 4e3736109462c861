"""Migration durations are wall-clock: 20 concurrent 6 s copies on 20 hosts take 6 s each.

The copy's end is a deadline computed by the link model (re-planned only when
the flows on a link change), not a CPU-bound loop, so the load of 20
migrations (and whatever else shares the 2 cores) does not stretch it.  The
bound is +/- 10 %, wide against timer jitter (milliseconds), narrow against
what a CPU-driven copy showed (durations doubling with 2 in flight).  The
benchmark with its spread: ``python -m localnova.wallclock`` (docs/localnova.md).
"""

from __future__ import annotations

import pytest

from localnova import wallclock
from localnova.harness import LocalNova

pytestmark = pytest.mark.integration

MIGRATIONS = 20
SECONDS = 6.0


def test_twenty_concurrent_six_second_migrations_take_six_seconds_each() -> None:
    hosts = wallclock.ring_hosts(MIGRATIONS)
    with LocalNova(hosts=hosts, link_mib_per_second=wallclock.TINY_MIB / SECONDS, start_timeout=300) as cloud:
        ids = cloud.boot_servers(MIGRATIONS, hosts=hosts, name_prefix="ring", timeout=300)
        result = wallclock.ring_round(cloud, ids)
        log = cloud.log_tail(40)
    assert len(result["copy"]) == MIGRATIONS, log
    assert all(SECONDS * 0.9 <= s <= SECONDS * 1.1 for s in result["copy"]), result
    # Nova's record spans the copy plus its own control plane: never shorter than the copy.
    assert all(s >= SECONDS * 0.9 for s in result["nova"]), result

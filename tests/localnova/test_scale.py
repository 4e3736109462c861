"""CI-sized scale check: 60 concurrent live and cold migrations on 6 hosts.

Before localnova serialised its database transactions, this load produced
placement 409 ``concurrent_update``, API 500 ``MigrationError:
'project_id'`` and servers in ERROR (about a third of 60).  The test counts
outcomes; the timings of the same run at 1,000 servers are in
localnova/README.md (``python -m localnova.bench``).
"""

from __future__ import annotations

import pytest

from localnova import bench
from localnova.harness import LocalNova

pytestmark = pytest.mark.integration

SERVERS = 60
HOSTS = 6
#: Servers migrated again right after their first migration completed
#: (the "re-migrate gets 500 'project_id'" trap).
AGAIN = 20


def test_concurrent_live_and_cold_migrations_have_no_nova_errors() -> None:
    # Unlimited per host (0): the point is 60 migrations in Nova at once, not Nova's queue.
    with LocalNova(
        hosts=bench.parse_hosts(str(HOSTS)),
        live_migration_seconds=2,
        cold_migration_seconds=2,
        max_concurrent_live_migrations=0,
    ) as cloud:
        ids = bench.boot(cloud, SERVERS, batch=20, timeout=120, poll_interval=0.5)
        assert len(set(ids)) == SERVERS

        cloud.reset_stats()
        first = bench.migrate_all(cloud, ids, cold_fraction=0.5, poll_interval=0.5, submit_threads=8, timeout=120)
        first_stats = cloud.stats()

        cloud.reset_stats()
        again = bench.migrate_all(
            cloud, ids[:AGAIN], cold_fraction=0.0, poll_interval=0.5, submit_threads=8, timeout=120
        )
        again_stats = cloud.stats()
        log = cloud.log_tail(80)  # for the failure messages below

    assert first["client_errors"] == {}, log
    assert first["accepted"] == SERVERS
    assert first["statuses"] == {"completed": SERVERS // 2, "confirmed": SERVERS // 2}, log
    assert first["moved"] == SERVERS
    assert first["servers_error"] == 0
    assert bench.api_5xx(first_stats) == 0

    assert again["client_errors"] == {}
    assert again["statuses"] == {"completed": AGAIN}, log
    assert again["moved"] == AGAIN
    assert again["servers_error"] == 0
    assert bench.api_5xx(again_stats) == 0

"""At the engine's defaults, a source's next live migration waits ``queued`` in Nova, as taskflow's does.

Watcher's ``WeightPlanner`` puts two migrations from one host in one chunk;
taskflow sends both at once and nova-compute, which copies one live migration
per host at a time (``max_concurrent_live_migrations`` = 1), holds the second
``queued`` until the first ends. The ``temporal`` engine at its defaults
(``max_parallel_per_source`` 1, ``queued_per_source`` 1) does the same: it
sends the second while the first copies, so Nova starts it the instant the
copy ends. Nova's API and localnova's copy timeline are the judges: the
second is sent while the first runs, the copies never overlap (Nova's limit
holds), and a cancel aborts the queued one too.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

import pytest

from localnova.harness import LocalNovaHandle
from tests.conditions import until
from tests.realstack import boot_on, nova_migrations
from tests.watcher_engine.test_engine_applier import disable, host_of, migrate, run
from tests.watcher_engine.watcher_stack import WatcherStack

pytestmark = pytest.mark.integration


def _at(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp)


async def test_the_next_migration_of_a_source_is_sent_while_the_first_copies(
    watcher_stack: WatcherStack, clean_cloud: LocalNovaHandle
) -> None:
    cloud = clean_cloud
    first, second = boot_on(cloud, "host1"), boot_on(cloud, "host1")
    cloud.configure(max_concurrent_live_migrations=1, live_migration_seconds=3)
    cloud.reset_migrations()
    plan = watcher_stack.build_plan([disable("host1"), migrate(first, "host2"), migrate(second, "host3")])
    by_server = {a.input_parameters.get("resource_id"): a for a in watcher_stack.actions(plan)}
    assert by_server[first].parents == by_server[second].parents  # one chunk of Watcher's planner

    await run(watcher_stack, plan)

    assert watcher_stack.plan(plan).state == "SUCCEEDED"
    assert (host_of(cloud, first), host_of(cloud, second)) == ("host2", "host3")
    records = sorted((r for s in (first, second) for r in nova_migrations(cloud, s)), key=lambda r: r.created_at)
    assert [r.status for r in records] == ["completed", "completed"]
    # The later one reached Nova while the earlier one was still in Nova's hands ...
    assert _at(records[1].created_at) < _at(records[0].updated_at), [(r.created_at, r.updated_at) for r in records]
    # ... and Nova copied them one after the other: its per-host limit held.
    copies = sorted(cloud.migrations()["finished"], key=lambda c: c["started_at"])
    assert [(c["source"], c["outcome"]) for c in copies] == [("host1", "done")] * 2, copies
    assert copies[1]["started_at"] >= copies[0]["ended_at"], copies


async def test_a_cancel_aborts_the_migration_queued_in_nova_too(
    watcher_stack: WatcherStack, clean_cloud: LocalNovaHandle
) -> None:
    cloud = clean_cloud
    first, second = boot_on(cloud, "host1"), boot_on(cloud, "host1")
    cloud.configure(max_concurrent_live_migrations=1, live_migration_seconds=60)
    plan = watcher_stack.build_plan([disable("host1"), migrate(first, "host2"), migrate(second, "host3")])
    running = asyncio.create_task(run(watcher_stack, plan))

    def statuses() -> list[str]:
        return sorted(m.status for s in (first, second) for m in nova_migrations(cloud, s))

    await until(lambda: statuses() == ["queued", "running"], timeout=90, what="Nova copies one and queues the other")
    await asyncio.to_thread(watcher_stack.cancel, plan)
    await running

    assert watcher_stack.plan(plan).state == "CANCELLED"
    assert watcher_stack.action_states(plan) == {"SUCCEEDED": 1, "CANCELLED": 2}
    assert statuses() == ["cancelled", "cancelled"]  # the queued one was aborted in Nova, not left to run
    assert (host_of(cloud, first), host_of(cloud, second)) == ("host1", "host1")
    assert cloud.migrations()["in_flight"] == []

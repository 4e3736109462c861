"""Plan limits proven by Nova's own records: dev server, real worker, real Nova 34, the CLI.

A plan of nine live migrations over three hosts runs with two migrations per
source and per destination; while the first six run, ``watcher-temporal
set-limits`` lowers both to one (and lets the global limit grow). Afterwards
the test reads Nova's migration records (``GET /os-migrations`` through
openstacksdk: ``created_at``, ``updated_at``, ``source_compute``,
``dest_compute``) and counts, per host, how many migration intervals overlap:
never more than the limit in force when each migration started.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from localnova.harness import LocalNovaHandle
from tests.conditions import until
from tests.integration.test_maintenance_plan_integration import clean_cloud  # noqa: F401 - a fixture
from tests.realstack import RunningWorker, boot_on, nova_migrations
from tests.watcher_temporal.test_cli import cli
from watcher_temporal.contract import STATUS_QUERY, ActionState, PlanState, PlanStatus

pytestmark = pytest.mark.integration

HOSTS = ("host1", "host2", "host3")


@dataclass(frozen=True)
class NovaMove:
    """One live migration as Nova recorded it."""

    server_id: str
    source: str
    destination: str
    created_at: datetime
    updated_at: datetime

    def overlaps(self, other: NovaMove) -> bool:
        return self.created_at < other.updated_at and other.created_at < self.updated_at


def _utc(text: str) -> datetime:
    stamp = datetime.fromisoformat(text)
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


def nova_moves(cloud: LocalNovaHandle, server_ids: Iterable[str]) -> list[NovaMove]:
    """Every completed live migration of the servers, from ``GET /os-migrations``."""
    moves = []
    for server_id in server_ids:
        for record in nova_migrations(cloud, server_id):
            if record.migration_type == "live-migration" and record.status == "completed":
                moves.append(
                    NovaMove(
                        server_id=server_id,
                        source=record.source_compute,
                        destination=record.dest_compute,
                        created_at=_utc(record.created_at),
                        updated_at=_utc(record.updated_at),
                    )
                )
    return moves


def most_at_once(moves: list[NovaMove]) -> int:
    """Most intervals that overlap at one instant (an end and a start at the same instant do not)."""
    edges = sorted([(m.created_at, 1) for m in moves] + [(m.updated_at, -1) for m in moves])
    most = running = 0
    for _, step in edges:
        running += step
        most = max(most, running)
    return most


def migrate(server_id: str, source: str, destination: str) -> dict[str, Any]:
    return {
        "id": f"m-{server_id[:8]}",
        "action_type": "migrate",
        "input_parameters": {
            "resource_id": server_id,
            "migration_type": "live",
            "source_node": source,
            "destination_node": destination,
            "poll_interval_seconds": 0.5,
            "timeout_seconds": 120,
        },
    }


async def test_no_host_ever_exceeds_its_limits_and_a_lowered_limit_is_honoured(
    dev_env: WorkflowEnvironment,
    worker: RunningWorker,
    clean_cloud: LocalNovaHandle,  # noqa: F811 - the fixture imported above
) -> None:
    cloud = clean_cloud
    servers = {host: [boot_on(cloud, host) for _ in range(3)] for host in HOSTS}
    cloud.configure(live_migration_seconds=8)
    actions = []
    for k in range(3):  # interleaved: one server of each host, each round to the other hosts in turn
        for i, host in enumerate(HOSTS):
            others = [h for h in HOSTS if h != host]
            actions.append(migrate(servers[host][k], host, others[(k + i) % 2]))
    plan = {
        "actions": actions,
        "max_parallel": 6,
        "max_parallel_per_host": 9,
        "max_parallel_per_source": 2,
        "max_parallel_per_destination": 2,
    }
    handle = await dev_env.client.start_workflow(
        "MaintenancePlan", plan, id=f"plan-{uuid.uuid4()}", task_queue=worker.task_queue, result_type=PlanStatus
    )

    async def six_running() -> bool:
        return len((await handle.query(STATUS_QUERY, result_type=PlanStatus)).running) == 6

    await until(six_running, timeout=60, what="six migrations run (two out of and two into each host)")
    run = await cli(
        dev_env,
        worker.task_queue,
        "set-limits",
        handle.id,
        "--max-parallel",
        "9",
        "--max-parallel-per-source",
        "1",
        "--max-parallel-per-destination",
        "1",
        "-o",
        "json",
    )
    changed_at = datetime.now(UTC)  # every action started later ran under the new limits
    assert run.code == 0, run.stderr
    doc = run.json()
    assert doc["outcome"] == "LIMITS_SET" and doc["previous"]["max_parallel_per_source"] == 2
    assert doc["limits"] == {
        "max_parallel": 9,
        "max_parallel_per_host": 9,
        "max_parallel_per_source": 1,
        "max_parallel_per_destination": 1,
    }
    async with asyncio.timeout(300):
        result: PlanStatus = await handle.result()
    assert result.state is PlanState.SUCCEEDED, result.reason
    assert result.counts[ActionState.SUCCEEDED.value] == 9
    assert (result.max_parallel_per_source, result.max_parallel_per_destination) == (1, 1)

    server_of = {a["id"]: a["input_parameters"]["resource_id"] for a in actions}
    all_ids = [s for ids in servers.values() for s in ids]
    moves = nova_moves(cloud, all_ids)
    assert sorted(m.server_id for m in moves) == sorted(all_ids)  # one Nova record per server
    for host in HOSTS:
        assert most_at_once([m for m in moves if m.source == host]) <= 2, host
        assert most_at_once([m for m in moves if m.destination == host]) <= 2, host
    # The limits were reached before the change: the count can see an excess.
    assert max(most_at_once([m for m in moves if m.source == host]) for host in HOSTS) == 2
    later = {server_of[a.id] for a in result.actions if a.started_at is not None and a.started_at > changed_at}
    assert later, "no migration started after set-limits; the change was not exercised"
    for move in (m for m in moves if m.server_id in later):
        same_source = [o for o in moves if o is not move and o.source == move.source and o.overlaps(move)]
        same_dest = [o for o in moves if o is not move and o.destination == move.destination and o.overlaps(move)]
        assert (same_source, same_dest) == ([], []), move

"""Cancel at every moment of a migration, and many times at VERIFY_RESIZE (issue 10, point 1).

Each cancel must end the workflow CANCELLED with the server idle where it
started (same host, same status), or SUCCEEDED if the migration had finished
first; never ``RevertFailed``; and Nova must have seen exactly one forward
migration of the server. Every assertion about Nova reads Nova's API.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from temporalio.client import WorkflowFailureError, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from localnova.harness import LocalNovaHandle
from tests.conditions import until
from tests.integration.test_migrate_server_integration import move, server_state
from tests.realstack import RunningWorker, boot_on, nova_migrations
from watcher_temporal.contract import MigrationResult, MigrationStatus, Phase
from watcher_temporal.progress import migration_progress
from watcher_temporal.starter import start_migration

pytestmark = pytest.mark.integration

SOURCE, DEST = "host1", "host2"


async def verify_resize_then_cancel(cloud: LocalNovaHandle, handle: WorkflowHandle[Any, Any], server_id: str) -> bool:
    """Poll Nova; cancel the workflow the moment the server shows VERIFY_RESIZE; False if it ended first."""
    async with asyncio.timeout(60):
        while True:
            server = await asyncio.to_thread(cloud.conn.compute.get_server, server_id)
            if server.status == "VERIFY_RESIZE":
                await handle.cancel()
                return True
            description = await handle.describe()
            if description.status is not None and description.status.name != "RUNNING":
                return False
            await asyncio.sleep(0.05)


async def end_state(
    cloud: LocalNovaHandle, handle: WorkflowHandle[Any, Any], server_id: str, started_as: str
) -> tuple[str, str]:
    """How the workflow ended ('CANCELLED', 'SUCCEEDED', or the failure) and whether the server is right."""
    try:
        async with asyncio.timeout(120):
            result: MigrationResult = await handle.result()
    except WorkflowFailureError as failure:
        cause = failure.cause
        kind = "CANCELLED" if type(cause).__name__ == "CancelledError" else f"FAILED {cause!r}"
        expected: tuple[str, str, str | None] = (SOURCE, started_as, None)
    else:
        kind = result.status.value
        expected = (
            (DEST, started_as, None) if result.status is MigrationStatus.SUCCEEDED else (SOURCE, started_as, None)
        )
    state = await asyncio.to_thread(server_state, cloud, server_id)
    return kind, "right" if state == expected else f"wrong {state} (expected {expected})"


def forward_and_back(cloud: LocalNovaHandle, server_id: str) -> tuple[int, int]:
    migrations = nova_migrations(cloud, server_id)
    forward = [m for m in migrations if m.source_compute == SOURCE]
    back = [m for m in migrations if m.source_compute != SOURCE]
    return len(forward), len(back)


async def cancel_cold_at_verify_resize(
    dev_env: WorkflowEnvironment, worker: RunningWorker, cloud: LocalNovaHandle, server_id: str, started_as: str
) -> tuple[str, str, tuple[int, int], bool]:
    handle = await start_migration(dev_env.client, move(server_id, "cold", SOURCE, DEST), task_queue=worker.task_queue)
    at_verify_resize = await verify_resize_then_cancel(cloud, handle, server_id)
    kind, state = await end_state(cloud, handle, server_id, started_as)
    return kind, state, await asyncio.to_thread(forward_and_back, cloud, server_id), at_verify_resize


def check(outcomes: list[tuple[str, str, tuple[int, int], bool]]) -> None:
    assert all(kind in ("CANCELLED", "SUCCEEDED") for kind, _, _, _ in outcomes), outcomes
    assert all(state == "right" for _, state, _, _ in outcomes), outcomes
    assert all(forward == 1 and back <= 1 for _, _, (forward, back), _ in outcomes), outcomes
    # The race was really run: every cancel was sent while Nova showed VERIFY_RESIZE.
    assert all(at_verify_resize for _, _, _, at_verify_resize in outcomes), outcomes


async def test_ten_single_cold_migrations_cancelled_at_verify_resize(
    dev_env: WorkflowEnvironment, worker: RunningWorker, localnova: LocalNovaHandle
) -> None:
    # Slow writes (the confirm among them) keep VERIFY_RESIZE visible long enough to cancel in it.
    localnova.configure(cold_migration_seconds=0.5, latency_ms=300, fault_methods=["POST"])
    outcomes = []
    for n in range(10):
        stopped = n % 2 == 1
        server_id = boot_on(localnova, SOURCE, stopped=stopped)
        outcomes.append(
            await cancel_cold_at_verify_resize(
                dev_env, worker, localnova, server_id, "SHUTOFF" if stopped else "ACTIVE"
            )
        )
    check(outcomes)


async def test_six_concurrent_cold_migrations_cancelled_at_verify_resize(
    dev_env: WorkflowEnvironment, worker: RunningWorker, localnova: LocalNovaHandle
) -> None:
    # Slow writes (the confirm among them) keep VERIFY_RESIZE visible long enough to cancel in it.
    localnova.configure(cold_migration_seconds=0.5, latency_ms=300, fault_methods=["POST"])
    servers = [
        (boot_on(localnova, SOURCE, stopped=n % 3 == 0), "SHUTOFF" if n % 3 == 0 else "ACTIVE") for n in range(6)
    ]
    outcomes = await asyncio.gather(
        *(cancel_cold_at_verify_resize(dev_env, worker, localnova, sid, status) for sid, status in servers)
    )
    check(list(outcomes))


@pytest.mark.parametrize(
    ("kind", "phase"),
    [
        ("cold", Phase.PRE_EXECUTE),
        ("cold", Phase.EXECUTE),
        ("live", Phase.WAITING),
        ("cold", Phase.WAITING),
        ("cold", Phase.POST_EXECUTE),
    ],
)
async def test_cancel_at_every_phase_puts_the_server_back(
    dev_env: WorkflowEnvironment, worker: RunningWorker, localnova: LocalNovaHandle, kind: str, phase: Phase
) -> None:
    # Slow Nova (every request) so that each phase lasts long enough to be seen and cancelled in.
    localnova.configure(latency_ms=200, live_migration_seconds=2, cold_migration_seconds=1)
    server_id = boot_on(localnova, SOURCE)
    handle = await start_migration(dev_env.client, move(server_id, kind, SOURCE, DEST), task_queue=worker.task_queue)

    async def in_phase() -> bool:
        return (await migration_progress(dev_env.client, handle.id)).phase is phase

    await until(in_phase, timeout=60, what=f"the migration is in {phase}")
    await handle.cancel()
    outcome, state = await end_state(localnova, handle, server_id, "ACTIVE")
    assert outcome in ("CANCELLED", "SUCCEEDED"), outcome
    if phase is not Phase.POST_EXECUTE:
        assert outcome == "CANCELLED"
    assert state == "right", state
    forward, back = forward_and_back(localnova, server_id)
    # A cancel during execute may land before or after Nova took the request: at most one forward migration.
    assert forward <= (0 if phase is Phase.PRE_EXECUTE else 1) and back <= 1, (forward, back)
    if phase in (Phase.WAITING, Phase.POST_EXECUTE):
        assert forward == 1

"""A plan started on the released worker, killed mid-plan, is finished by today's worker.

The release (``tests/upgrade/RELEASES``, found by commit) runs from its own
unpacked tree as ``python worker.py`` on this checkout's virtualenv; it is
SIGKILLed while migrations run, then today's ``python worker.py`` takes the task
queue over and replays everything the release wrote: the plan and its
``MigrateServer`` children must end SUCCEEDED with no workflow task failed
(a non-determinism error fails the task, and the task is retried forever).
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Callable, Iterator

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHistory
from temporalio.testing import WorkflowEnvironment

from localnova.harness import LocalNovaHandle
from tests.conditions import until
from tests.realstack import WorkerProcess, nova_migrations
from tests.upgrade.record_release import live_move
from tests.upgrade.release import imported_from, latest_release, release_tree, release_worker

pytestmark = pytest.mark.integration

SERVERS = 6


@pytest.fixture
def release_workers(
    dev_env: WorkflowEnvironment, localnova: LocalNovaHandle
) -> Iterator[Callable[[str], WorkerProcess]]:
    with release_tree(latest_release()) as tree:
        assert imported_from(tree).is_relative_to(tree)  # the release's code, not this checkout's
        started: list[WorkerProcess] = []

        def make(task_queue: str) -> WorkerProcess:
            env = {k: v for k, v in os.environ.items() if not k.startswith(("TEMPORAL_", "OS_"))}
            worker = release_worker(
                tree,
                {
                    **env,
                    **localnova.env(),
                    "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
                    "TEMPORAL_NAMESPACE": dev_env.client.namespace,
                    "TEMPORAL_TASK_QUEUE": task_queue,
                },
            )
            started.append(worker)
            return worker

        yield make
        for worker in started:
            worker.stop()


async def histories(client: Client, workflow_id: str, first_run_id: str | None) -> list[WorkflowHistory]:
    """Every run of the workflow (continue-as-new chain) and of every child it started."""
    found: list[WorkflowHistory] = []
    run_id = first_run_id
    while run_id:
        history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        found.append(history)
        last = history.events[-1]
        run_id = (
            last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id
            if last.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW
            else None
        )
    for history in list(found):
        for event in history.events:
            if event.event_type == EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED:
                child = event.child_workflow_execution_started_event_attributes.workflow_execution
                found.append(await client.get_workflow_handle(child.workflow_id, run_id=child.run_id).fetch_history())
    return found


def task_identities(history: WorkflowHistory) -> set[str]:
    return {
        e.workflow_task_completed_event_attributes.identity
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
    }


async def test_plan_started_on_the_release_finishes_on_todays_worker(
    dev_env: WorkflowEnvironment,
    localnova: LocalNovaHandle,
    release_workers: Callable[[str], WorkerProcess],
    worker_process_factory: Callable[[str], WorkerProcess],
) -> None:
    cloud = localnova
    servers = cloud.boot_servers(SERVERS, hosts=["host1"], name_prefix=f"up-{uuid.uuid4().hex[:4]}")
    try:
        await hand_over(dev_env, cloud, servers, release_workers, worker_process_factory)
    finally:
        cloud.delete_all_servers()


async def hand_over(
    dev_env: WorkflowEnvironment,
    cloud: LocalNovaHandle,
    servers: list[str],
    release_workers: Callable[[str], WorkerProcess],
    worker_process_factory: Callable[[str], WorkerProcess],
) -> None:
    cloud.configure(live_migration_seconds=3)
    task_queue = f"upgrade-{uuid.uuid4().hex[:8]}"
    old = release_workers(task_queue)
    old.start()
    actions = [live_move(f"m{i}", server_id, timeout_seconds=300) for i, server_id in enumerate(servers)]
    actions.append({"id": "done", "action_type": "nop", "input_parameters": {"message": "end"}, "parents": ["m5"]})
    plan = {"actions": actions, "max_parallel": 2, "max_parallel_per_host": 2}
    handle = await dev_env.client.start_workflow(
        "MaintenancePlan", plan, id=f"plan-upgrade-{uuid.uuid4().hex[:8]}", task_queue=task_queue
    )

    async def mid_plan() -> bool:
        status = await handle.query("status")
        return status["counts"].get("SUCCEEDED", 0) >= 1 and len(status["running"]) >= 1

    try:
        await until(mid_plan, timeout=120, what="the release's worker has finished one migration and runs more")
    except BaseException:
        print(old.log_tail())
        raise
    old.kill()
    new = worker_process_factory(task_queue)
    new.start()
    try:
        async with asyncio.timeout(300):
            result = await handle.result()
    except BaseException:
        print(new.log_tail())
        raise

    assert result["state"] == "SUCCEEDED", result
    assert result["counts"].get("SUCCEEDED") == SERVERS + 1
    runs = await histories(dev_env.client, handle.id, handle.first_execution_run_id or handle.run_id)
    assert len(runs) == 1 + SERVERS
    failed = [
        (h.workflow_id, e.event_id)
        for h in runs
        for e in h.events
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED
    ]
    assert failed == []
    plan_workers = task_identities(runs[0])
    assert any(i.startswith(old.identity) for i in plan_workers), plan_workers  # the release worked on it
    assert any(i.startswith(new.identity) for i in plan_workers), plan_workers  # and today's finished it
    for server_id in servers:
        server = cloud.conn.compute.get_server(server_id)
        assert (server.compute_host, server.status) == ("host2", "ACTIVE")
        assert [m.status for m in nova_migrations(cloud, server_id)] == ["completed"]  # never migrated twice

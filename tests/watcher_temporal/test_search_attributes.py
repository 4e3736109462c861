"""The project's search attributes: registration, and workflows found through them."""

from __future__ import annotations

import uuid

import pytest
from temporalio.testing import WorkflowEnvironment

from localnova.harness import LocalNovaHandle
from tests.conditions import until
from tests.realstack import RunningWorker, boot_on
from watcher_temporal.search_attributes import ALL_KEYS, dev_server_args, register_search_attributes


def test_dev_server_args_define_every_attribute_as_keyword() -> None:
    args = dev_server_args()
    assert args[::2] == ["--search-attribute"] * len(ALL_KEYS)
    assert args[1::2] == [f"{key.name}=Keyword" for key in ALL_KEYS]


@pytest.mark.integration
async def test_registration_is_idempotent(dev_env: WorkflowEnvironment, time_skipping_env: WorkflowEnvironment) -> None:
    # Both fixtures registered them already: nothing left to add, and no error.
    assert await register_search_attributes(dev_env.client) == []
    # The time-skipping server cannot list attributes, so all are (re)added: no error either.
    assert await register_search_attributes(time_skipping_env.client) == [key.name for key in ALL_KEYS]


async def _ids(dev_env: WorkflowEnvironment, query: str) -> list[str]:
    return [w.id async for w in dev_env.client.list_workflows(query)]


@pytest.mark.integration
async def test_workflow_started_without_attributes_upserts_them(
    dev_env: WorkflowEnvironment, worker: RunningWorker, localnova: LocalNovaHandle
) -> None:
    """Started the way ``temporal workflow start`` would: raw JSON, no attributes; scheduler picks."""
    server = boot_on(localnova, "host1")
    workflow_id = f"migrate-{server}"
    handle = await dev_env.client.start_workflow(
        "MigrateServer",
        {"resource_id": server, "migration_type": "live", "source_node": "host1", "poll_interval_seconds": 0.5},
        id=workflow_id,
        task_queue=worker.task_queue,
    )
    result = await handle.result()
    final_host = result["final_host"]
    assert final_host in ("host2", "host3")

    async def found(query: str) -> bool:
        return workflow_id in await _ids(dev_env, query)

    await until(lambda: found(f'WatcherServerId="{server}"'), timeout=30, what="found by server id")
    assert await found('WatcherSourceHost="host1" AND WatcherMigrationType="live"')
    # The scheduler's choice is recorded once known.
    assert await found(f'WatcherDestinationHost="{final_host}"')
    assert not await found(f'WatcherServerId="{uuid.uuid4()}"')

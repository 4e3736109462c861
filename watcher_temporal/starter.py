"""Start and follow ``MigrateServer`` workflows from Python.

Every starter uses :func:`watcher_temporal.contract.migration_workflow_id`
(``migrate-<server uuid>``), and refuses to start a second migration of a
server while one runs; a finished one may be started again.
"""

from __future__ import annotations

from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from watcher_temporal.contract import (
    DEFAULT_TASK_QUEUE,
    WORKFLOW_TASK_TIMEOUT,
    MigrateServerInput,
    MigrationResult,
    WorkflowType,
    migration_workflow_id,
)
from watcher_temporal.errors import MigrationAlreadyRunning
from watcher_temporal.search_attributes import migration_attributes


async def start_migration(
    client: Client,
    params: MigrateServerInput,
    *,
    task_queue: str = DEFAULT_TASK_QUEUE,
    plan_id: str | None = None,
) -> WorkflowHandle[Any, MigrationResult]:
    """Start ``MigrateServer`` for ``params`` under ``migrate-<server uuid>``.

    The workflow carries the search attributes of
    :mod:`watcher_temporal.search_attributes` from its first event (server,
    hosts, type and ``plan_id`` when given), so the namespace must have them.

    Raises:
        MigrationAlreadyRunning: that server's migration workflow is running.
    """
    dest = params.destination_node or "scheduler's choice"
    try:
        return await client.start_workflow(
            WorkflowType.MIGRATE_SERVER.value,
            params,
            result_type=MigrationResult,
            id=migration_workflow_id(params.resource_id),
            task_queue=task_queue,
            task_timeout=WORKFLOW_TASK_TIMEOUT,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
            static_summary=f"{params.migration_type.value} migration of {params.resource_id} "
            f"from {params.source_node} to {dest}",
            search_attributes=migration_attributes(
                server_id=params.resource_id,
                source_host=params.source_node,
                destination_host=params.destination_node,
                migration_type=params.migration_type.value,
                plan_id=plan_id,
            ),
        )
    except WorkflowAlreadyStartedError as err:
        raise MigrationAlreadyRunning(err.workflow_id, err.run_id) from err

"""A plan's ``migrate`` actions: each a ``MigrateServer`` child, and its rollback.

The child's id is ``migrate-<server uuid>``, so nobody else migrates that
server meanwhile. Closing or cancelling the plan cancels its children, which
abort the Nova migration and put the server back. A rollback moves a server
back with another child of the same id.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import (
    ActivityError,
    ChildWorkflowError,
    WorkflowAlreadyStartedError,
    is_cancelled_exception,
)
from temporalio.workflow import ChildWorkflowCancellationType, ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from watcher_temporal.contract import (
        WORKFLOW_TASK_TIMEOUT,
        ActionState,
        MigrateServerInput,
        MigrationResult,
        MigrationStatus,
        PlanAction,
        PlanActivity,
        RevertOutcome,
        UndoRecord,
        WorkflowType,
        migration_workflow_id,
    )
    from watcher_temporal.contract.patches import CANCELLED_CHILD_OUTCOME_PATCH
    from watcher_temporal.errors import describe_failure
    from watcher_temporal.search_attributes import migration_attributes
    from watcher_temporal.workflows.activity_options import short_options
    from watcher_temporal.workflows.plan_status import Outcome

#: How long a cancelled plan looks for how a child ended before it says less.
CANCELLED_LOOK_BUDGET = timedelta(seconds=30)


async def migrate(action: PlanAction, params: MigrateServerInput) -> Outcome:
    """Run one ``migrate`` action as a ``MigrateServer`` child."""
    child_id = migration_workflow_id(params.resource_id)
    try:
        result = await start_child(params, f"{action.id}: {describe(params)}")
    except WorkflowAlreadyStartedError:
        return Outcome(ActionState.FAILED, f"another migration of this server is running as {child_id}")
    except ChildWorkflowError as err:
        if is_cancelled_exception(err):
            return Outcome(ActionState.CANCELLED, await _how_cancelled(child_id))
        return Outcome(ActionState.FAILED, describe_failure(err))
    if result.status is MigrationStatus.SUCCEEDED:
        return Outcome(ActionState.SUCCEEDED, result.reason, UndoRecord(final_host=result.final_host))
    if result.status is MigrationStatus.SKIPPED:
        return Outcome(ActionState.SKIPPED, result.reason)
    return Outcome(ActionState.FAILED, result.reason)


async def _how_cancelled(child_id: str) -> str:
    """The reason of a migration cancelled with the plan: how its child put the server back."""
    if not workflow.patched(CANCELLED_CHILD_OUTCOME_PATCH):
        return f"cancelled with the plan; {child_id} aborted and reverted"
    try:
        how = await workflow.execute_activity(
            PlanActivity.CANCELLED_MIGRATION.value,
            child_id,
            result_type=str,
            summary=f"read how {child_id} ended",
            **short_options(retry_budget=CANCELLED_LOOK_BUDGET),
        )
    except ActivityError:
        how = "it put its server back (its own history says how)"
    return f"cancelled with the plan; {child_id}: {how}"


async def migrate_back(action_id: str, params: MigrateServerInput, undo: UndoRecord) -> tuple[RevertOutcome, str]:
    """Roll one SUCCEEDED migration back: move the server from where it went to its source."""
    if not undo.final_host or undo.final_host == params.source_node:
        return RevertOutcome.NOTHING_TO_REVERT, "the server did not leave its source"
    back = params.model_copy(update={"source_node": undo.final_host, "destination_node": params.source_node})
    result = await start_child(back, f"rollback {action_id}: {describe(back)}")
    if result.status is MigrationStatus.SUCCEEDED:
        return RevertOutcome.REVERTED, f"moved back to {params.source_node}"
    if result.status is MigrationStatus.SKIPPED:
        return RevertOutcome.NOTHING_TO_REVERT, result.reason
    return RevertOutcome.REVERT_FAILED, result.reason


async def start_child(params: MigrateServerInput, summary: str) -> MigrationResult:
    """Run ``MigrateServer`` as a child of the plan, findable by the plan's id."""
    return await workflow.execute_child_workflow(
        WorkflowType.MIGRATE_SERVER,
        params,
        id=migration_workflow_id(params.resource_id),
        result_type=MigrationResult,
        task_timeout=WORKFLOW_TASK_TIMEOUT,
        # Closing or cancelling the plan cancels its children, which
        # abort the Nova migration and put the server back.
        parent_close_policy=ParentClosePolicy.REQUEST_CANCEL,
        cancellation_type=ChildWorkflowCancellationType.WAIT_CANCELLATION_COMPLETED,
        static_summary=summary,
        # Every migration of a plan is found with WatcherPlanId="<plan id>".
        search_attributes=migration_attributes(
            server_id=params.resource_id,
            source_host=params.source_node,
            destination_host=params.destination_node,
            migration_type=params.migration_type.value,
            plan_id=workflow.info().workflow_id,
        ),
    )


def describe(params: MigrateServerInput) -> str:
    """One line naming the migration (type, server, source → destination)."""
    dest = params.destination_node or "(scheduler)"
    return f"{params.migration_type.value} {params.resource_id} {params.source_node}→{dest}"

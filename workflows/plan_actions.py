"""How a plan runs and reverts each action type (the scheduler decides when).

* ``migrate``: a ``MigrateServer`` child (:mod:`~watcher_temporal.workflows.plan_migrations`);
* ``change_nova_service_state``: an activity, finished even if the plan is cancelled;
* ``stop``, ``shelve``, ``delete``, ``resize``: one activity with Watcher's semantics;
* ``watcher_action``: Watcher's own action class inside an activity;
* ``nop``: a local activity (one marker event); ``sleep``: a durable timer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import timedelta
from typing import TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import FailureError

with workflow.unsafe.imports_passed_through():
    from watcher_temporal.contract import (
        SERVER_ACTION_TYPES,
        ActionState,
        ActionType,
        ChangeNovaServiceStateParams,
        GenericActionParams,
        MigrateServerInput,
        NopParams,
        NopRequest,
        PlanAction,
        PlanActivity,
        ResizeParams,
        RevertOutcome,
        ServerActionRequest,
        ServerParams,
        ServiceState,
        ServiceStateChange,
        ServiceStateRequest,
        SleepParams,
        UndoRecord,
        WatcherActionRequest,
        WatcherActionResult,
    )
    from watcher_temporal.errors import describe_failure
    from watcher_temporal.workflows.activity_options import short_options
    from watcher_temporal.workflows.plan_migrations import migrate, migrate_back
    from watcher_temporal.workflows.plan_status import Outcome
    from watcher_temporal.workflows.plan_window import PlanWindow

T = TypeVar("T")

#: History events one action adds (at least): child initiated/started/closed
#: (+ cancel requests), activity scheduled/started/closed, timer started/fired,
#: one local-activity marker.
EVENTS_PER_ACTION = {
    ActionType.MIGRATE: 4,
    ActionType.CHANGE_NOVA_SERVICE_STATE: 3,
    ActionType.SLEEP: 2,
    ActionType.NOP: 1,
    ActionType.STOP: 3,
    ActionType.SHELVE: 3,
    ActionType.DELETE: 3,
    ActionType.RESIZE: 3,
    ActionType.WATCHER_ACTION: 3,
}
#: Events of one workflow task (scheduled, started, completed).
EVENTS_PER_WAKE = 3
#: Most actions one workflow task starts: each start costs the workflow thread
#: about a millisecond (several on a loaded machine), and a task must end well
#: within the SDK's 2 s deadlock limit.
START_BATCH = 100
#: The pause between two batches (a timer: it ends the workflow task).
START_PAUSE = timedelta(milliseconds=1)
#: Events of one pause: timer started and fired, and the next workflow task.
EVENTS_PER_PAUSE = 2 + EVENTS_PER_WAKE
#: A nop only logs; a local activity keeps it to one marker event.
NOP_TIMEOUT = timedelta(seconds=30)
#: A Watcher action class runs Nova calls and waits itself; it heartbeats meanwhile.
WATCHER_ACTION_TIMEOUT = timedelta(hours=2)
#: Time a server action may take beyond its own wait for Nova (its calls, a retry).
NOVA_GRACE = timedelta(minutes=5)


async def settle(action: PlanAction) -> Outcome:
    """Run one action; a failure or a cancel becomes its outcome, never the plan's failure (a bug still is)."""
    try:
        return await execute(action)
    except asyncio.CancelledError:
        return Outcome(ActionState.CANCELLED, "cancelled with the plan")
    except FailureError as err:
        return Outcome(ActionState.FAILED, describe_failure(err))


async def execute(action: PlanAction) -> Outcome:
    """Run one action of the plan to its end."""
    if action.action_type in SERVER_ACTION_TYPES:
        return _outcome_of(await _server_activity(PlanActivity.SERVER_ACTION, action))
    if action.action_type is ActionType.WATCHER_ACTION:
        return _outcome_of(await _watcher_activity(PlanActivity.WATCHER_ACTION, action))
    params = action.params()
    if isinstance(params, MigrateServerInput):
        return await migrate(action, params)
    if isinstance(params, ChangeNovaServiceStateParams):
        return await _change_service_state(action, params)
    if isinstance(params, SleepParams):
        await workflow.sleep(timedelta(seconds=params.duration), summary=f"{action.id}: sleep")
        return Outcome(ActionState.SUCCEEDED, f"slept {params.duration:g}s")
    assert isinstance(params, NopParams)
    await _finish_even_if_cancelled(
        workflow.execute_local_activity(
            PlanActivity.NOP.value,
            NopRequest(action_id=action.id, message=params.message),
            start_to_close_timeout=NOP_TIMEOUT,
        )
    )
    return Outcome(ActionState.SUCCEEDED, params.message or "nop")


async def revert(action: PlanAction, undo: UndoRecord) -> tuple[RevertOutcome, str]:
    """Revert one SUCCEEDED action (a rollback); says what it did."""
    params = action.params()
    if isinstance(params, MigrateServerInput):
        return await migrate_back(action.id, params, undo)
    if action.action_type in SERVER_ACTION_TYPES | {ActionType.WATCHER_ACTION}:
        if action.action_type is ActionType.WATCHER_ACTION:
            reverted = await _watcher_activity(PlanActivity.WATCHER_ACTION_REVERT, action)
        else:
            reverted = await _server_activity(PlanActivity.SERVER_ACTION_REVERT, action)
        if reverted.state is ActionState.SKIPPED:
            return RevertOutcome.NOTHING_TO_REVERT, reverted.reason
        if reverted.state is ActionState.SUCCEEDED:
            return RevertOutcome.REVERTED, reverted.reason or "reverted by Watcher's own revert()"
        return RevertOutcome.REVERT_FAILED, reverted.reason
    if isinstance(params, ChangeNovaServiceStateParams) and undo.service is not None:
        before = undo.service
        request = ServiceStateRequest(
            host=before.host, state=before.previous_state, disabled_reason=before.previous_disabled_reason
        )
        await _service_activity(request, f"rollback {action.id}")
        return RevertOutcome.REVERTED, f"nova-compute on {before.host} {before.previous_state.value} again"
    return RevertOutcome.NOTHING_TO_REVERT, f"{action.action_type.value} changes nothing"


async def rollback(window: PlanWindow) -> None:
    """Revert every SUCCEEDED action, newest first, one at a time.

    One exception to strict reverse order: reverts that re-enable a compute
    service run first, because moving servers back onto a host needs its
    service enabled (the plan usually disabled it first).
    """
    newest_first = list(reversed(window.completed))
    reenable = [a for a in newest_first if _reenables(window.undo.get(a))]
    order = reenable + [a for a in newest_first if a not in set(reenable)]
    for action_id in order:
        try:
            outcome, text = await revert(window.action(action_id), window.undo.get(action_id, UndoRecord()))
        except FailureError as err:  # one failed revert must not stop the others
            outcome, text = RevertOutcome.REVERT_FAILED, describe_failure(err)
        window.set_status(action_id, revert=outcome, revert_reason=text)


def _reenables(undo: UndoRecord | None) -> bool:
    return bool(undo and undo.service and undo.service.previous_state is ServiceState.ENABLED)


async def _change_service_state(action: PlanAction, params: ChangeNovaServiceStateParams) -> Outcome:
    request = ServiceStateRequest(host=params.resource_name, state=params.state, disabled_reason=params.disabled_reason)
    change = await _finish_even_if_cancelled(_service_activity(request, action.id))
    if not change.changed:
        return Outcome(ActionState.SKIPPED, f"nova-compute on {change.host} is already {params.state.value}")
    return Outcome(
        ActionState.SUCCEEDED,
        f"nova-compute on {change.host}: {change.previous_state.value} → {params.state.value}",
        UndoRecord(service=change),
    )


def _service_activity(request: ServiceStateRequest, action_id: str) -> Awaitable[ServiceStateChange]:
    return workflow.execute_activity(
        PlanActivity.CHANGE_SERVICE_STATE.value,
        request,
        result_type=ServiceStateChange,
        summary=f"{action_id}: set nova-compute on {request.host} {request.state.value}",
        **short_options(),
    )


def _server_activity(name: PlanActivity, action: PlanAction) -> Awaitable[WatcherActionResult]:
    params = action.params()
    assert isinstance(params, ServerParams)
    request = ServerActionRequest(
        action_id=action.id,
        action_type=action.action_type,
        resource_id=params.resource_id,
        flavor=params.flavor if isinstance(params, ResizeParams) else None,
        poll_interval_seconds=params.poll_interval_seconds,
        timeout_seconds=params.timeout_seconds,
    )
    return workflow.execute_activity(
        name.value,
        request,
        result_type=WatcherActionResult,
        summary=f"{action.id}: {action.action_type.value} {params.resource_id}",
        start_to_close_timeout=timedelta(seconds=params.timeout_seconds) + NOVA_GRACE,
        heartbeat_timeout=timedelta(seconds=30),
        retry_policy=RetryPolicy(maximum_attempts=3),
    )


def _watcher_activity(name: PlanActivity, action: PlanAction) -> Awaitable[WatcherActionResult]:
    params = action.params()
    assert isinstance(params, GenericActionParams)
    request = WatcherActionRequest(
        action_id=action.id, action_type=params.action_type, input_parameters=params.parameters
    )
    return workflow.execute_activity(
        name.value,
        request,
        result_type=WatcherActionResult,
        summary=f"{action.id}: {request.action_type}",
        start_to_close_timeout=WATCHER_ACTION_TIMEOUT,
        heartbeat_timeout=timedelta(seconds=30),
        # Watcher's actions are not all idempotent: one more attempt, only
        # after a lost worker (their pre_condition then sees what was done).
        retry_policy=RetryPolicy(maximum_attempts=2),
    )


def _outcome_of(result: WatcherActionResult) -> Outcome:
    """A Watcher action's result as the plan records it (a failure names its phase)."""
    reason = f"{result.phase}: {result.reason}" if result.state is ActionState.FAILED else result.reason
    return Outcome(result.state, reason)


async def _finish_even_if_cancelled(coro: Awaitable[T]) -> T:
    """Await ``coro`` to its end even if the plan is cancelled meanwhile.

    Used for the short, non-abortable steps (a service state change, a nop):
    letting them finish is what makes the per-action account precise.
    """
    inner = asyncio.ensure_future(coro)
    try:
        return await asyncio.shield(inner)
    except asyncio.CancelledError:
        return await inner

"""Action states and notifications, written the way Watcher's taskflow engine writes them.

The workflow reports where each action is (its ``status`` query); this writer
turns each change into the same DB writes (``Action.save()``, which itself
sends ``action.update``) and the same ``action.execution.*`` /
``action.cancel.*`` notifications, in the same order, as
``watcher.applier.workflow_engine.base.BaseTaskFlowActionContainer``:

==========================  ================================================================
workflow says               DB writes and notifications
==========================  ================================================================
ONGOING                     ``execution.start``; state ONGOING
SUCCEEDED                   (ONGOING step if not yet seen); state SUCCEEDED; ``execution.end``
SKIPPED (precondition)      state SKIPPED, "Action was skipped automatically: …"; ``update``
                            with ``old_state``
FAILED                      state FAILED, "Action failed in <phase>: <reason>";
                            ``execution.error`` (priority ERROR)
CANCELLED                   ONGOING: state CANCELLING, ``cancel.start``, state CANCELLED,
                            ``cancel.end``; PENDING: ``cancel.start``, CANCELLED, ``cancel.end``
==========================  ================================================================

``execution.error`` is sent from inside an ``except`` block: Watcher builds
its fault payload with ``inspect.trace()``, which fails anywhere else.
Actions skipped by hand are never written. Under the ``rollback`` policy a
reverted action keeps its state (Watcher has no REVERTED) and its status
message says how the rollback treated it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from watcher import notifications, objects
from watcher.common import exception
from watcher.objects import fields

from watcher_temporal.contract import ActionState, ActionStatus
from watcher_temporal.watcher_engine.causes import STATUS_MESSAGE_COLUMN

logger = logging.getLogger(__name__)

#: Longest status message written: Watcher's column.
MAX_STATUS_MESSAGE = STATUS_MESSAGE_COLUMN


#: Phases of Watcher's action container, as the generic path prefixes its reasons.
PHASES = ("pre_condition", "execute", "post_condition")


def failure_phase(reason: str) -> tuple[str, str]:
    """Watcher's phase of a failure and the reason without it.

    The generic path says ``"<phase>: <reason>"``; a migration whose
    precondition failed says ``PreconditionFailed``; anything else failed
    while executing.
    """
    head, _, rest = reason.partition(": ")
    if head in PHASES:
        return head, rest
    return ("pre_condition" if "PreconditionFailed" in reason else "execute"), reason


class ActionStateWriter:
    """Writes what the plan's workflow reports into Watcher's DB, once per change."""

    def __init__(self, context: Any, *, skipped_by_hand: Iterable[str] = ()) -> None:
        self._context = context
        self._written: dict[str, ActionState] = {}
        self._ignored = frozenset(skipped_by_hand)
        self._reverts: set[str] = set()

    def written(self, action_id: str) -> ActionState:
        """The last state written for an action (PENDING before any)."""
        return self._written.get(action_id, ActionState.PENDING)

    def catch_up(self, statuses: Iterable[ActionStatus]) -> None:
        """Write every change since the last call."""
        for status in statuses:
            if status.id in self._ignored:
                continue
            if status.state is not self.written(status.id):
                self._write(status)
            if status.revert is not None and status.id not in self._reverts:
                self._note_revert(status)

    def close_unfinished(self, plan_uuid: str, cause: str) -> None:
        """The plan failed engine-side: close every action it left open, as Watcher's engine would.

        PENDING (never ran) → CANCELLED with the cause, sent as a cancel
        (``action.cancel.start`` / ``.end``); ONGOING (its outcome was cut
        off) → FAILED "Action failed in execute: <cause>" with
        ``action.execution.error``, as taskflow writes an action whose
        execution raised. Actions skipped by hand are left alone.
        """
        unfinished = (objects.action.State.PENDING, objects.action.State.ONGOING, objects.action.State.CANCELLING)
        filters = {"action_plan_uuid": plan_uuid, "state__in": unfinished}
        for db_action in objects.Action.list(self._context, filters=filters, eager=True):
            if db_action.uuid in self._ignored:
                continue
            if db_action.state == objects.action.State.PENDING:
                self._cancel_notification(db_action, fields.NotificationPhase.START)
                db_action = self._save(db_action.uuid, objects.action.State.CANCELLED, f"Action was cancelled: {cause}")
                self._cancel_notification(db_action, fields.NotificationPhase.END)
                self._written[db_action.uuid] = ActionState.CANCELLED
            else:
                db_action = self._save(
                    db_action.uuid, objects.action.State.FAILED, f"Action failed in execute: {cause}"
                )
                self._execution_error(db_action)
                self._written[db_action.uuid] = ActionState.FAILED

    def adopt(self, action_id: str, state: str) -> None:
        """Take a state found in the DB as already written (re-attach after a restart)."""
        if state in ActionState.__members__:
            self._written[action_id] = ActionState(state)

    # -- one change ---------------------------------------------------------

    def _write(self, status: ActionStatus) -> None:
        before = self.written(status.id)
        target = status.state
        if target is ActionState.ONGOING or (target is ActionState.SUCCEEDED and before is ActionState.PENDING):
            self._start(status.id)
        if target is ActionState.SUCCEEDED:
            db_action = self._save(status.id, objects.action.State.SUCCEEDED)
            self._execution(db_action, fields.NotificationPhase.END)
        elif target is ActionState.SKIPPED:
            db_action = self._save(
                status.id, objects.action.State.SKIPPED, f"Action was skipped automatically: {status.reason}"
            )
            notifications.action.send_update(self._context, db_action, old_state=before.value)
        elif target is ActionState.FAILED:
            phase, reason = failure_phase(status.reason)
            if phase != "pre_condition" and before is ActionState.PENDING:
                self._start(status.id)  # Watcher ran it: start notification and ONGOING first
            db_action = self._save(status.id, objects.action.State.FAILED, f"Action failed in {phase}: {reason}")
            self._execution_error(db_action)
        elif target is ActionState.CANCELLED:
            self._cancel(status, before)
        self._written[status.id] = target

    def _note_revert(self, status: ActionStatus) -> None:
        """Rollback (policy ``rollback``): Watcher has no REVERTED state; the message says it."""
        assert status.revert is not None
        self._reverts.add(status.id)
        db_action = objects.Action.get_by_uuid(self._context, status.id, eager=True)
        note = f"rollback: {status.revert.value.replace('_', ' ')}: {status.revert_reason}"
        db_action.status_message = f"{db_action.status_message}; {note}" if db_action.status_message else note
        db_action.status_message = db_action.status_message[:MAX_STATUS_MESSAGE]
        db_action.save()

    def _start(self, action_id: str) -> None:
        db_action = objects.Action.get_by_uuid(self._context, action_id, eager=True)
        self._execution(db_action, fields.NotificationPhase.START)
        self._save(action_id, objects.action.State.ONGOING)
        self._written[action_id] = ActionState.ONGOING

    def _cancel(self, status: ActionStatus, before: ActionState) -> None:
        db_action = objects.Action.get_by_uuid(self._context, status.id, eager=True)
        if before is ActionState.ONGOING:
            db_action = self._save(status.id, objects.action.State.CANCELLING)
        self._cancel_notification(db_action, fields.NotificationPhase.START)
        db_action = self._save(status.id, objects.action.State.CANCELLED, status.reason or None)
        self._cancel_notification(db_action, fields.NotificationPhase.END)

    # -- Watcher calls ------------------------------------------------------

    def _save(self, action_id: str, state: str, message: str | None = None) -> Any:
        """``BaseWorkFlowEngine.notify``: load, set, save (which sends ``action.update``)."""
        db_action = objects.Action.get_by_uuid(self._context, action_id, eager=True)
        db_action.state = state
        if message:
            db_action.status_message = message[:MAX_STATUS_MESSAGE]
        db_action.save()
        return db_action

    def _execution(self, db_action: Any, phase: str) -> None:
        notifications.action.send_execution_notification(
            self._context, db_action, fields.NotificationAction.EXECUTION, phase
        )

    def _cancel_notification(self, db_action: Any, phase: str) -> None:
        notifications.action.send_cancel_notification(self._context, db_action, fields.NotificationAction.CANCEL, phase)

    def _execution_error(self, db_action: Any) -> None:
        try:  # the fault payload reads inspect.trace(): it must be built inside ``except``
            raise exception.ActionExecutionFailure(action_id=db_action.uuid)
        except exception.ActionExecutionFailure:
            notifications.action.send_execution_notification(
                self._context,
                db_action,
                fields.NotificationAction.EXECUTION,
                fields.NotificationPhase.ERROR,
                priority=fields.NotificationPriority.ERROR,
            )

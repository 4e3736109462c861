"""The scheduler of a maintenance plan: every action's status, its parents, its slots.

Bookkeeping only, no Temporal call: ``MaintenancePlan`` asks :meth:`PlanWindow.start_ready` what
to start, tells :meth:`PlanWindow.finish` how each action ended, and the window keeps every action's
status, the parents each pending action still waits on, and (through
:class:`~watcher_temporal.workflows.plan_slots.Slots`) the load under every limit.

Cost: :meth:`PlanWindow.load` is O(plan), once per run; every other call costs
O(what changed): a finished action touches its children and slots, never the plan.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from watcher_temporal.contract import (
        DONE_ACTION_STATES,
        ActionState,
        ActionStatus,
        ActionType,
        MaintenancePlanInput,
        OnFailure,
        PlanAction,
        PlanProgress,
        UndoRecord,
        WindowLimits,
        migration_workflow_id,
    )

    from . import plan_handover
    from .plan_slots import Slots

if TYPE_CHECKING:
    from .plan_outcome import Outcome


class PlanWindow:
    """Every action's status, and which may start under the window's limits."""

    def __init__(self) -> None:
        self.plan: MaintenancePlanInput | None = None
        self.slots = Slots()
        self.statuses: dict[str, ActionStatus] = {}
        self.running: dict[str, None] = {}
        self.completed: list[str] = []
        self.undo: dict[str, UndoRecord] = {}
        self.failed = False
        self.failed_first: str | None = None
        self._actions: dict[str, PlanAction] = {}
        self._index: dict[str, int] = {}
        self._children: dict[str, list[str]] = {}
        self._child_ids: dict[str, str] = {}
        self._pending: dict[str, None] = {}
        self._waiting_on: dict[str, int] = {}
        self._idle: dict[str, ActionStatus] = {}  # PENDING statuses a query built, each once

    # -- loading and handing over -------------------------------------------

    def load(self, plan: MaintenancePlanInput, progress: PlanProgress | None, *, host_limits: bool) -> None:
        """Take the plan and what earlier runs did; O(plan).

        Args:
            plan: The validated plan.
            progress: What the previous run handed over (None: first run).
            host_limits: Whether per-source/destination limits and exclusive
                groups apply (histories recorded before them ran without).
        """
        if progress is not None and progress.limits is not None:
            self.slots.limits = progress.limits
        else:
            self.slots.limits = WindowLimits(
                max_parallel=progress.max_parallel if progress else plan.max_parallel,
                max_parallel_per_host=plan.max_parallel_per_host,
                max_parallel_per_source=plan.max_parallel_per_source if host_limits else None,
                max_parallel_per_destination=plan.max_parallel_per_destination if host_limits else None,
            )
        groups_of: dict[str, list[str]] = {}
        if host_limits:
            for name, members in plan.exclusive_groups.items():
                for member in members:
                    groups_of.setdefault(member, []).append(name)
        self.plan = plan
        self.failed = progress.failed if progress else False
        self.completed = plan_handover.completed_ids(progress, plan.actions) if progress else []
        self.undo = dict(progress.undo) if progress else {}
        # Only actions that left PENDING have a status of their own (a plan of 10,000
        # builds no 10,000 models per run); the validated plan's parameters are read as they are.
        self.statuses = {}
        for index, action in enumerate(plan.actions):
            action_id = action.id
            self._actions[action_id] = action
            self._index[action_id] = index
            ends = None
            if action.action_type is ActionType.MIGRATE:
                params = action.input_parameters
                ends = (str(params["source_node"]), _optional(params.get("destination_node")))
                self._child_ids[action_id] = migration_workflow_id(str(params["resource_id"]))
            self.slots.add(action_id, ends, tuple(groups_of[action_id]) if action_id in groups_of else ())
            self._children[action_id] = []
        if progress is not None:
            self.statuses = plan_handover.unpack(progress, plan.actions, self._child_ids)
        self._pending = {a.id: None for a in plan.actions if a.id not in self.statuses}
        for action in plan.actions:
            for parent in action.parents:
                self._children[parent].append(action.id)
        for action_id in self._pending:
            parents = self._actions[action_id].parents
            waiting = self._waiting_on[action_id] = sum(not self.releases_children(self.state_of(p)) for p in parents)
            if not waiting:
                self.slots.make_ready(self._index[action_id], action_id)
        for action_id, status in list(self.statuses.items()):
            if status.state in (ActionState.FAILED, ActionState.CANCELLED):
                self._cancel_children(action_id)

    def progress(self, *, started_at: datetime, runs: int) -> PlanProgress:
        """What the next run (after continue-as-new) needs."""
        return PlanProgress(
            packed=plan_handover.pack(self.statuses.values(), self._index, self.completed, started_at),
            started_at=started_at,
            runs=runs,
            max_parallel=self.slots.limits.max_parallel,
            failed=self.failed,
            undo=self.undo,
            limits=self.slots.limits,
        )

    def ordered_statuses(self) -> list[ActionStatus]:
        """Every action's status, in plan order."""
        return [self.status_of(a.id) for a in self.plan.actions] if self.plan else []

    def status_of(self, action_id: str) -> ActionStatus:
        """One action's status (PENDING until it starts or is cancelled; built once, when first asked)."""
        status = self.statuses.get(action_id) or self._idle.get(action_id)
        if status is None:
            action_type = self._actions[action_id].action_type
            status = self._idle[action_id] = _PENDING[action_type].model_copy(update={"id": action_id})
        return status

    def state_of(self, action_id: str) -> ActionState:
        """One action's state."""
        status = self.statuses.get(action_id)
        return ActionState.PENDING if status is None else status.state

    def running_ids(self) -> list[str]:
        """The running actions, in plan order."""
        return sorted(self.running, key=self._index.__getitem__)

    def action(self, action_id: str) -> PlanAction:
        """The plan's action of that id."""
        return self._actions[action_id]

    # -- the policy -----------------------------------------------------------

    def releases_children(self, state: ActionState) -> bool:
        """Whether an action ending in ``state`` lets its children start."""
        if state in DONE_ACTION_STATES:
            return True
        # Watcher's taskflow decider ALWAYS: children of a FAILED action run too.
        return state is ActionState.FAILED and self.plan is not None and self.plan.on_failure is OnFailure.WATCHER

    def stopped(self) -> bool:
        """An action FAILED and the policy starts nothing new after that."""
        return (
            self.failed
            and self.plan is not None
            and self.plan.on_failure not in (OnFailure.CONTINUE, OnFailure.WATCHER)
        )

    def pending_count(self) -> int:
        """How many actions have not started yet."""
        return len(self._pending)

    # -- starting and finishing ------------------------------------------------

    def start_ready(self, now: datetime, *, at_most: int | None = None) -> list[PlanAction]:
        """Start every ready action that fits (``at_most`` of them), in plan order; returns them (now ONGOING)."""
        started: list[PlanAction] = []
        while len(self.running) < self.slots.limits.max_parallel and (at_most is None or len(started) < at_most):
            action_id = self.slots.next_fitting(self._pending)
            if action_id is None:
                break
            del self._pending[action_id]
            self.running[action_id] = None
            self._set(action_id, state=ActionState.ONGOING, started_at=now, workflow_id=self._child_ids.get(action_id))
            started.append(self._actions[action_id])
        return started

    def finish(self, action_id: str, outcome: Outcome, now: datetime) -> None:
        """Record how a running action ended, free its slots and release or cancel its children."""
        self.running.pop(action_id, None)
        self.slots.release(action_id)
        self._set(action_id, state=outcome.state, reason=outcome.reason, finished_at=now)
        if outcome.state is ActionState.SUCCEEDED:
            self.completed.append(action_id)
            if outcome.undo is not None:
                self.undo[action_id] = outcome.undo
        if self.releases_children(outcome.state):
            for child in self._children[action_id]:
                self._waiting_on[child] -= 1
                if not self._waiting_on[child] and child in self._pending:
                    self.slots.make_ready(self._index[child], child)
        if outcome.state is ActionState.FAILED:
            self.failed = True
            self.failed_first = self.failed_first or action_id
        if outcome.state in (ActionState.FAILED, ActionState.CANCELLED):
            self._cancel_children(action_id)

    def cancel_pending(self, reason: str) -> None:
        """CANCEL every action that has not started."""
        self.slots.clear()
        for action_id in list(self._pending):
            self._set(action_id, state=ActionState.CANCELLED, reason=reason)
        self._pending.clear()

    def set_status(self, action_id: str, **changes: object) -> None:
        """Change fields of one action's status (e.g. how a rollback treated it)."""
        self._set(action_id, **changes)

    # -- inside -----------------------------------------------------------------

    def _cancel_children(self, action_id: str) -> None:
        """CANCEL the pending descendants of an action that ended FAILED or CANCELLED (unless released)."""
        if self.releases_children(self.statuses[action_id].state):
            return
        blocked = [(child, action_id) for child in self._children[action_id]]
        while blocked:
            child, parent = blocked.pop()
            if child not in self._pending:
                continue
            del self._pending[child]
            state = self.statuses[parent].state.value
            self._set(child, state=ActionState.CANCELLED, reason=f"not started: parent {parent!r} is {state}")
            blocked.extend((grandchild, child) for grandchild in self._children[child])

    def _set(self, action_id: str, **changes: object) -> None:
        self.statuses[action_id] = self.status_of(action_id).model_copy(update=changes)
        self._idle.pop(action_id, None)


#: A PENDING status per action type, copied for each action (cheaper than building one).
_PENDING = {t: ActionStatus(id="-", action_type=t) for t in ActionType}


def _optional(value: object) -> str | None:
    return None if value is None else str(value)

"""``MaintenancePlan``: a Watcher action plan run as one durable parent workflow.

    validate the whole plan ─► sliding window ─► SUCCEEDED
                                   │  an action starts as soon as its parents are
                                   │  SUCCEEDED/SKIPPED and a slot is free under
                                   │  every limit (global, per host, per source,
                                   │  per destination, exclusive groups)
                                   ├─ FAILED + continue ─► keep going, children of
                                   │                       the failed action CANCELLED
                                   ├─ FAILED + stop ─────► start nothing new ─► FAILED
                                   ├─ FAILED + rollback ─► stop, revert completed
                                   │                       actions newest first ─► FAILED
                                   └─ cancel ─► cancel running children (they abort
                                                and revert) ─► CANCELLED

Unlike Watcher's applier there are no layers and no barriers: a slow migration
holds one slot, not a whole chunk. Each ``migrate`` action is a
``MigrateServer`` child (id ``migrate-<server uuid>``, so nobody else can
migrate that server meanwhile); ``change_nova_service_state`` is an activity;
``nop`` a local activity; ``sleep`` a durable timer. Large plans continue as
new (after draining the window) before the history grows too long.

Workflow code only decides: no I/O, no clock but ``workflow.now()``, and
activities and children are called by name.
"""

from __future__ import annotations

import asyncio
import heapq
from collections import Counter
from collections.abc import Awaitable
from datetime import timedelta
from typing import Any, NoReturn, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import (
    ActivityError,
    ChildWorkflowError,
    FailureError,
    WorkflowAlreadyStartedError,
    is_cancelled_exception,
)
from temporalio.workflow import ChildWorkflowCancellationType, ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from pydantic import JsonValue

    from watcher_temporal.contract import (
        DONE_ACTION_STATES,
        MAX_PARALLEL_LIMIT,
        SERVER_ACTION_TYPES,
        SET_LIMITS_UPDATE,
        SET_MAX_PARALLEL_UPDATE,
        STATUS_QUERY,
        WORKFLOW_TASK_TIMEOUT,
        ActionState,
        ActionStatus,
        ActionType,
        ChangeNovaServiceStateParams,
        DrainPlan,
        DrainRequest,
        GenericActionParams,
        MaintenancePlanInput,
        MigrateServerInput,
        MigrationResult,
        MigrationStatus,
        NopParams,
        NopRequest,
        OnFailure,
        PlanAction,
        PlanActivity,
        PlanProgress,
        PlanState,
        PlanStatus,
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
        WindowLimits,
        WorkflowType,
        count_states,
        migration_workflow_id,
        parse_limits_change,
        plan_id_problem,
        refuse_extra_arguments,
        validate_input,
        validate_plan,
    )
    from watcher_temporal.contract.durations import DURATION_ORDER_PATCH, SizesRequest, SizesResult
    from watcher_temporal.errors import InvalidInput, describe_failure, from_failure
    from watcher_temporal.search_attributes import OUTCOME, PLAN_ID, migration_attributes
    from watcher_temporal.workflows.activity_options import short_options
    from watcher_temporal.workflows.plan_durations import PlanDurations

T = TypeVar("T")

#: A nop only logs; a local activity keeps it to one marker event.
NOP_TIMEOUT = timedelta(seconds=30)
#: ``workflow.patched`` ids (histories recorded before them replay without them).
CANONICAL_ID_PATCH = "canonical-workflow-id"
OUTCOME_PATCH = "outcome-search-attribute"
#: Per-source and per-destination limits and exclusive groups: plans recorded
#: before them ran with only the global and per-host limits.
HOST_LIMITS_PATCH = "host-limits"
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
#: A Watcher action class runs Nova calls and waits itself; it heartbeats meanwhile.
WATCHER_ACTION_TIMEOUT = timedelta(hours=2)
#: Time a server action may take beyond its own wait for Nova (its calls, a retry).
NOVA_GRACE = timedelta(minutes=5)
#: Events of one workflow task (scheduled, started, completed).
EVENTS_PER_WAKE = 3


class _Outcome:
    """How one action ended (before it is written into its status)."""

    __slots__ = ("reason", "state", "undo")

    def __init__(self, state: ActionState, reason: str, undo: UndoRecord | None = None) -> None:
        self.state = state
        self.reason = reason
        self.undo = undo


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


@workflow.defn(name=WorkflowType.MAINTENANCE_PLAN)
class MaintenancePlan:
    """Run a Watcher action plan with a sliding window and a failure policy."""

    def __init__(self) -> None:
        self._plan: MaintenancePlanInput | None = None
        self._actions: dict[str, PlanAction] = {}
        self._index: dict[str, int] = {}
        self._hosts: dict[str, frozenset[str]] = {}
        self._children: dict[str, list[str]] = {}
        self._statuses: dict[str, ActionStatus] = {}
        self._waiting_on: dict[str, int] = {}
        self._ready: list[tuple[int, str]] = []
        self._running: dict[str, asyncio.Task[None]] = {}
        self._host_load: Counter[str] = Counter()
        self._ends: dict[str, tuple[str | None, str | None]] = {}
        self._source_load: Counter[str] = Counter()
        self._destination_load: Counter[str] = Counter()
        self._groups_of: dict[str, tuple[str, ...]] = {}
        self._busy_groups: Counter[str] = Counter()
        self._limits = WindowLimits(max_parallel=1, max_parallel_per_host=1)
        self._completed: list[str] = []
        self._undo: dict[str, UndoRecord] = {}
        self._state = PlanState.PENDING
        self._failed_first: str | None = None
        self._failed = False
        self._runs = 0
        self._started_at: Any = None
        self._finished_at: Any = None
        self._reason = ""
        self._wake = False
        self._events_estimate = 0
        self._durations: PlanDurations | None = None

    # -- operator surfaces --------------------------------------------------

    @workflow.query(name=STATUS_QUERY)
    def status(self) -> PlanStatus:
        """Every action's state, the plan's state and the counts."""
        plan = self._plan
        statuses = [self._statuses[a.id] for a in plan.actions] if plan else []
        return PlanStatus(
            state=self._state,
            counts=count_states(statuses),
            actions=statuses,
            running=sorted(self._running, key=self._index.__getitem__),
            max_parallel=self._limits.max_parallel,
            max_parallel_per_host=self._limits.max_parallel_per_host if plan else 0,
            max_parallel_per_source=self._limits.max_parallel_per_source,
            max_parallel_per_destination=self._limits.max_parallel_per_destination,
            exclusive_groups=len(plan.exclusive_groups) if plan else 0,
            on_failure=plan.on_failure if plan else OnFailure.STOP,
            runs=self._runs,
            started_at=self._started_at,
            finished_at=self._finished_at,
            reason=self._reason,
            eta_seconds=self._eta_seconds(),
        )

    def _eta_seconds(self) -> float | None:
        """Expected seconds until the plan ends (None without duration estimates)."""
        if self._durations is None or self._state is PlanState.PENDING:
            return None
        if self._state not in (PlanState.ONGOING, PlanState.CANCELLING):
            return 0.0
        return self._durations.eta_seconds(self._statuses, self._limits, workflow.now())

    @workflow.update(name=SET_MAX_PARALLEL_UPDATE)
    def set_max_parallel(self, value: int) -> int:
        """Change the global limit while the plan runs; returns the old one.

        Lowering it never stops running actions: new ones wait until the
        number running falls under the new limit.
        """
        previous = self._limits.max_parallel
        self._limits = self._limits.model_copy(update={"max_parallel": value})
        self._wake = True
        return previous

    @set_max_parallel.validator
    def _validate_max_parallel(self, value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_PARALLEL_LIMIT:
            raise ValueError(f"max_parallel must be an integer from 1 to {MAX_PARALLEL_LIMIT}")
        if self._state not in (PlanState.PENDING, PlanState.ONGOING):
            raise ValueError(f"the plan is {self._state.value}; its limits no longer matter")

    @workflow.update(name=SET_LIMITS_UPDATE)
    def set_limits(self, change: JsonValue) -> WindowLimits:
        """Change any of the window's limits while the plan runs; returns the previous ones.

        ``change`` names the limits to change (``max_parallel``,
        ``max_parallel_per_host``, ``max_parallel_per_source``,
        ``max_parallel_per_destination``); the others stay. 0 lifts a
        per-source or per-destination limit. Lowering a limit never stops
        running actions: new ones wait until they fit.
        """
        previous = self._limits
        self._limits = previous.changed(parse_limits_change(change))
        self._wake = True
        return previous

    @set_limits.validator
    def _validate_limits(self, change: JsonValue) -> None:
        parse_limits_change(change)
        if self._state not in (PlanState.PENDING, PlanState.ONGOING):
            raise ValueError(f"the plan is {self._state.value}; its limits no longer matter")
        if self._plan is None:
            raise ValueError("the plan is not running yet (a drain is still building it); try again in a moment")

    # -- the run ------------------------------------------------------------

    @workflow.run
    async def run(
        self, request: MaintenancePlanInput | JsonValue = None, progress: PlanProgress | None = None, *extra: JsonValue
    ) -> PlanStatus:
        """Run the plan; see the module docstring.

        Args:
            request: The plan (raw JSON accepted, validated here).
            progress: Internal: what the previous run did, after continue-as-new.

        Returns:
            The final status (state SUCCEEDED or FAILED).

        Raises:
            InvalidInput: the plan broke a rule; names every problem.
        """
        refuse_extra_arguments("MaintenancePlan input", extra)
        plan = validate_plan(request)
        # With ``*extra`` in the signature the SDK hands arguments over as plain JSON.
        progress = PlanProgress.model_validate(progress) if progress is not None else None
        if workflow.patched(CANONICAL_ID_PATCH):
            problem = plan_id_problem(workflow.info().workflow_id)
            if problem is not None:
                raise InvalidInput(
                    f"workflow id {workflow.info().workflow_id[:120]!r}: {problem}",
                    [{"action": "(plan)", "field": "(workflow id)", "rule": problem}],
                )
        return await self._run_plan(plan, progress)

    async def _run_plan(self, plan: MaintenancePlanInput, progress: PlanProgress | None) -> PlanStatus:
        """Run a validated plan to its end (or continue as new); the body of every plan workflow."""
        if progress is None:  # continue-as-new keeps the workflow's attributes
            workflow.upsert_search_attributes([PLAN_ID.value_set(workflow.info().workflow_id)])
        if workflow.patched(DURATION_ORDER_PATCH):
            plan = await self._with_sizes(plan)
        self._load(plan, progress)
        self._state = PlanState.ONGOING
        try:
            carry_on = await self._schedule(plan)
        except asyncio.CancelledError:
            if workflow.cancellation_reason() is None:
                raise
            await self._cancel_running()
            self._set_outcome(PlanState.CANCELLED.value)
            raise
        if carry_on:
            await workflow.wait_condition(workflow.all_handlers_finished)
            self._continue_as_new(plan, self._progress())
        if self._failed and plan.on_failure is OnFailure.ROLLBACK:
            await asyncio.shield(asyncio.ensure_future(self._rollback()))
        self._finish()
        self._set_outcome(self._state.value)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.status()

    def _continue_as_new(self, plan: MaintenancePlanInput, progress: PlanProgress) -> NoReturn:
        workflow.continue_as_new(args=[plan, progress])

    async def _with_sizes(self, plan: MaintenancePlanInput) -> MaintenancePlanInput:
        """The plan with its migrated servers' sizes: as given, else read from Nova once.

        The sizes only order the migrations and feed the ETA: when they
        cannot be read the plan runs in plan order, with the default size.
        """
        if plan.server_sizes is not None:
            return plan
        servers = {}
        for action in plan.actions:
            source, _ = _migration_ends(action)
            if source is not None:
                params = action.params()
                assert isinstance(params, MigrateServerInput)
                servers[params.resource_id] = source
        sizes = SizesResult()
        if servers:
            try:
                sizes = await workflow.execute_activity(
                    PlanActivity.MIGRATION_SIZES.value,
                    SizesRequest(servers=servers),
                    result_type=SizesResult,
                    summary=f"read Nova: flavor sizes of {len(servers)} servers",
                    **short_options(),
                )
            except ActivityError as err:
                workflow.logger.warning("no flavor sizes (%s): plan order, default sizes", describe_failure(err))
        return plan.model_copy(update={"server_sizes": sizes.sizes})

    def _set_outcome(self, outcome: str) -> None:
        """Make the plan's ending searchable (``WatcherOutcome``)."""
        if workflow.patched(OUTCOME_PATCH):
            workflow.upsert_search_attributes([OUTCOME.value_set(outcome)])

    def _load(self, plan: MaintenancePlanInput, progress: PlanProgress | None) -> None:
        host_limits = workflow.patched(HOST_LIMITS_PATCH)
        if progress is not None and progress.limits is not None:
            self._limits = progress.limits
        else:
            self._limits = WindowLimits(
                max_parallel=progress.max_parallel if progress else plan.max_parallel,
                max_parallel_per_host=plan.max_parallel_per_host,
                # Recorded histories ran without these: they replay the old decisions.
                max_parallel_per_source=plan.max_parallel_per_source if host_limits else None,
                max_parallel_per_destination=plan.max_parallel_per_destination if host_limits else None,
            )
        if host_limits:
            groups_of: dict[str, list[str]] = {}
            for name, members in plan.exclusive_groups.items():
                for member in members:
                    groups_of.setdefault(member, []).append(name)
            self._groups_of = {a: tuple(g) for a, g in groups_of.items()}
        if plan.server_sizes is not None:  # the duration-order patch read or got them
            self._durations = PlanDurations(
                plan,
                sizes=plan.server_sizes,
                estimates=progress.estimates if progress else None,
                groups_of=self._groups_of,
            )
        self._plan = plan
        self._started_at = progress.started_at if progress else workflow.now()
        self._runs = progress.runs if progress else 0
        self._failed = progress.failed if progress else False
        self._completed = list(progress.completed) if progress else []
        self._undo = dict(progress.undo) if progress else {}
        carried = {s.id: s for s in progress.actions} if progress else {}
        for index, action in enumerate(plan.actions):
            self._actions[action.id] = action
            self._index[action.id] = index
            self._hosts[action.id] = action.hosts()
            self._ends[action.id] = _migration_ends(action)
            self._children.setdefault(action.id, [])
            self._statuses[action.id] = carried.get(action.id) or ActionStatus(
                id=action.id, action_type=action.action_type
            )
        for action in plan.actions:
            for parent in action.parents:
                self._children[parent].append(action.id)
        for action in plan.actions:
            if self._statuses[action.id].state is not ActionState.PENDING:
                continue
            if self._durations is not None:
                self._durations.expect(action.id)
            self._waiting_on[action.id] = sum(
                not self._releases_children(self._statuses[p].state) for p in action.parents
            )
            if not self._waiting_on[action.id]:
                self._push_ready(action.id)
        self._settle_blocked()

    def _progress(self) -> PlanProgress:
        plan = self._plan
        assert plan is not None
        return PlanProgress(
            actions=[s for s in self._statuses.values() if s.state is not ActionState.PENDING],
            completed=self._completed,
            started_at=self._started_at,
            runs=self._runs + 1,
            max_parallel=self._limits.max_parallel,
            failed=self._failed,
            undo=self._undo,
            limits=self._limits,
            estimates=self._durations.estimates if self._durations is not None else None,
        )

    async def _schedule(self, plan: MaintenancePlanInput) -> bool:
        """Run the window until nothing more can start; True to continue as new."""
        draining = False
        while True:
            if self._stopped(plan):
                self._cancel_pending(f"not started: the plan stopped after action {self._failed_first!r} FAILED")
            elif not draining:
                self._start_ready(plan)
            if not self._running:
                return draining and any(s.state is ActionState.PENDING for s in self._statuses.values())
            info = workflow.info()
            # Local activities (nops) reach the history only when a workflow
            # task completes, so the server's count lags: use our own estimate too.
            events = max(info.get_current_history_length(), self._events_estimate)
            if not draining and (info.is_continue_as_new_suggested() or events >= plan.max_history_events):
                workflow.logger.info("history is long: draining the window to continue as new")
                draining = True
            self._wake = False
            self._events_estimate += EVENTS_PER_WAKE
            await workflow.wait_condition(lambda: self._wake)

    def _stopped(self, plan: MaintenancePlanInput) -> bool:
        return self._failed and plan.on_failure not in (OnFailure.CONTINUE, OnFailure.WATCHER)

    def _releases_children(self, state: ActionState) -> bool:
        """Whether an action ending in ``state`` lets its children start."""
        if state in DONE_ACTION_STATES:
            return True
        # Watcher's taskflow decider ALWAYS: children of a FAILED action run too.
        return state is ActionState.FAILED and self._plan is not None and self._plan.on_failure is OnFailure.WATCHER

    def _push_ready(self, action_id: str) -> None:
        if self._durations is not None:
            self._durations.queue.push(action_id)
        else:
            heapq.heappush(self._ready, (self._index[action_id], action_id))

    def _start_ready(self, plan: MaintenancePlanInput) -> None:
        """Start every ready action that fits: in expected-duration order when sizes are known, else plan order."""
        if self._durations is not None:
            per_source = self._limits.max_parallel_per_source
            self._durations.start_ready(
                self._start_if_fits,
                room=lambda: len(self._running) < self._limits.max_parallel,
                source_open=lambda s: per_source is None or self._source_load[s] < per_source,
            )
            return
        skipped: list[tuple[int, str]] = []
        while self._ready and len(self._running) < self._limits.max_parallel:
            index, action_id = heapq.heappop(self._ready)
            if not self._start_if_fits(action_id):
                skipped.append((index, action_id))
        for item in skipped:
            heapq.heappush(self._ready, item)

    def _start_if_fits(self, action_id: str) -> bool:
        """Start the action when it fits under every limit; whether it started."""
        if not self._fits(action_id):
            return False
        self._take_slots(action_id, 1)
        self._events_estimate += EVENTS_PER_ACTION[self._actions[action_id].action_type]
        self._set(action_id, state=ActionState.ONGOING, started_at=workflow.now())
        self._running[action_id] = asyncio.create_task(self._run_action(self._actions[action_id]))
        return True

    def _fits(self, action_id: str) -> bool:
        """Whether starting the action keeps every host and group limit."""
        limits = self._limits
        if any(self._host_load[h] >= limits.max_parallel_per_host for h in self._hosts[action_id]):
            return False
        source, destination = self._ends[action_id]
        per_source, per_destination = limits.max_parallel_per_source, limits.max_parallel_per_destination
        if source and per_source is not None and self._source_load[source] >= per_source:
            return False
        if destination and per_destination is not None and self._destination_load[destination] >= per_destination:
            return False
        return not any(self._busy_groups[g] for g in self._groups_of.get(action_id, ()))

    def _take_slots(self, action_id: str, count: int) -> None:
        """Count a starting action (``count`` 1) on its hosts and groups, or release it (-1)."""
        source, destination = self._ends[action_id]
        for counter, keys in (
            (self._host_load, self._hosts[action_id]),
            (self._source_load, (source,) if source else ()),
            (self._destination_load, (destination,) if destination else ()),
            (self._busy_groups, self._groups_of.get(action_id, ())),
        ):
            for key in keys:
                counter[key] += count

    async def _run_action(self, action: PlanAction) -> None:
        try:
            outcome = await self._execute(action)
        except asyncio.CancelledError:
            outcome = _Outcome(ActionState.CANCELLED, "cancelled with the plan")
        except FailureError as err:  # an action's failure must not fail the plan (a bug should)
            outcome = _Outcome(ActionState.FAILED, describe_failure(err))
        self._running.pop(action.id, None)
        self._take_slots(action.id, -1)
        self._set(action.id, state=outcome.state, reason=outcome.reason, finished_at=workflow.now())
        if self._durations is not None:
            started = self._statuses[action.id].started_at
            self._durations.finished(
                action.id,
                outcome.state,
                final_host=outcome.undo.final_host if outcome.undo is not None else None,
                seconds=(workflow.now() - started).total_seconds() if started is not None else 0.0,
            )
        if outcome.state is ActionState.SUCCEEDED:
            self._completed.append(action.id)
            if outcome.undo is not None:
                self._undo[action.id] = outcome.undo
        if self._releases_children(outcome.state):
            for child in self._children[action.id]:
                self._waiting_on[child] -= 1
                if not self._waiting_on[child] and self._statuses[child].state is ActionState.PENDING:
                    self._push_ready(child)
        if outcome.state is ActionState.FAILED:
            self._failed = True
            self._failed_first = self._failed_first or action.id
        self._settle_blocked()
        self._wake = True

    def _settle_blocked(self) -> None:
        """CANCEL pending actions that can never start (a parent FAILED or was CANCELLED)."""
        blocked = [
            (a, p)
            for a, s in self._statuses.items()
            if s.state is ActionState.PENDING
            for p in self._actions[a].parents
            if self._statuses[p].state in (ActionState.FAILED, ActionState.CANCELLED)
            and not self._releases_children(self._statuses[p].state)
        ]
        while blocked:
            action_id, parent = blocked.pop()
            if self._statuses[action_id].state is not ActionState.PENDING:
                continue
            self._set(
                action_id,
                state=ActionState.CANCELLED,
                reason=f"not started: parent {parent!r} is {self._statuses[parent].state.value}",
            )
            blocked.extend((child, action_id) for child in self._children[action_id])

    def _cancel_pending(self, reason: str) -> None:
        self._ready.clear()
        if self._durations is not None:
            self._durations.queue.clear()
        for action_id, status in self._statuses.items():
            if status.state is ActionState.PENDING:
                self._set(action_id, state=ActionState.CANCELLED, reason=reason)

    async def _cancel_running(self) -> None:
        """Cancel every running action and wait until each has settled."""
        self._state = PlanState.CANCELLING
        self._cancel_pending("not started: the plan was cancelled")
        tasks = list(self._running.values())
        for task in tasks:
            task.cancel()
        await asyncio.shield(asyncio.gather(*tasks, return_exceptions=True))
        self._state = PlanState.CANCELLED
        self._finished_at = workflow.now()
        counts = count_states(self._statuses.values())
        self._reason = "cancelled: " + ", ".join(f"{n} {s}" for s, n in counts.items() if n)

    # -- one action ---------------------------------------------------------

    async def _execute(self, action: PlanAction) -> _Outcome:
        if action.action_type in SERVER_ACTION_TYPES:
            return await self._server_action(action)
        if action.action_type is ActionType.WATCHER_ACTION:
            return await self._watcher_action(action)
        params = action.params()
        if isinstance(params, MigrateServerInput):
            return await self._migrate(action, params)
        if isinstance(params, ChangeNovaServiceStateParams):
            return await self._change_service_state(action, params)
        if isinstance(params, SleepParams):
            await workflow.sleep(timedelta(seconds=params.duration), summary=f"{action.id}: sleep")
            return _Outcome(ActionState.SUCCEEDED, f"slept {params.duration:g}s")
        assert isinstance(params, NopParams)
        await _finish_even_if_cancelled(
            workflow.execute_local_activity(
                PlanActivity.NOP.value,
                NopRequest(action_id=action.id, message=params.message),
                start_to_close_timeout=NOP_TIMEOUT,
            )
        )
        return _Outcome(ActionState.SUCCEEDED, params.message or "nop")

    async def _migrate(self, action: PlanAction, params: MigrateServerInput) -> _Outcome:
        child_id = migration_workflow_id(params.resource_id)
        self._set(action.id, workflow_id=child_id)
        try:
            result = await self._child(params, f"{action.id}: {_describe(params)}")
        except WorkflowAlreadyStartedError:
            return _Outcome(ActionState.FAILED, f"another migration of this server is running as {child_id}")
        except ChildWorkflowError as err:
            if is_cancelled_exception(err):
                return _Outcome(ActionState.CANCELLED, f"cancelled with the plan; {child_id} aborted and reverted")
            return _Outcome(ActionState.FAILED, describe_failure(err))
        if result.status is MigrationStatus.SUCCEEDED:
            return _Outcome(ActionState.SUCCEEDED, result.reason, UndoRecord(final_host=result.final_host))
        if result.status is MigrationStatus.SKIPPED:
            return _Outcome(ActionState.SKIPPED, result.reason)
        return _Outcome(ActionState.FAILED, result.reason)

    async def _child(self, params: MigrateServerInput, summary: str) -> MigrationResult:
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

    async def _change_service_state(self, action: PlanAction, params: ChangeNovaServiceStateParams) -> _Outcome:
        request = ServiceStateRequest(
            host=params.resource_name, state=params.state, disabled_reason=params.disabled_reason
        )
        change = await _finish_even_if_cancelled(self._service_activity(request, action.id))
        if not change.changed:
            return _Outcome(ActionState.SKIPPED, f"nova-compute on {change.host} is already {params.state.value}")
        return _Outcome(
            ActionState.SUCCEEDED,
            f"nova-compute on {change.host}: {change.previous_state.value} → {params.state.value}",
            UndoRecord(service=change),
        )

    def _service_activity(self, request: ServiceStateRequest, action_id: str) -> Awaitable[ServiceStateChange]:
        return workflow.execute_activity(
            PlanActivity.CHANGE_SERVICE_STATE.value,
            request,
            result_type=ServiceStateChange,
            summary=f"{action_id}: set nova-compute on {request.host} {request.state.value}",
            **short_options(),
        )

    async def _watcher_action(self, action: PlanAction) -> _Outcome:
        return _outcome_of(await self._watcher_activity(PlanActivity.WATCHER_ACTION, action))

    async def _server_action(self, action: PlanAction) -> _Outcome:
        return _outcome_of(await self._server_activity(PlanActivity.SERVER_ACTION, action))

    def _server_activity(self, name: PlanActivity, action: PlanAction) -> Awaitable[WatcherActionResult]:
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

    def _watcher_activity(self, name: PlanActivity, action: PlanAction) -> Awaitable[WatcherActionResult]:
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

    # -- rollback -----------------------------------------------------------

    async def _rollback(self) -> None:
        """Revert every SUCCEEDED action, newest first, one at a time.

        One exception to strict reverse order: reverts that re-enable a
        compute service run first, because moving servers back onto a host
        needs its service enabled (the plan usually disabled it first).
        """
        self._reason = "rolling back"
        newest_first = list(reversed(self._completed))
        reenable = [a for a in newest_first if _reenables(self._undo.get(a))]
        order = reenable + [a for a in newest_first if a not in set(reenable)]
        for action_id in order:
            try:
                outcome, text = await self._revert(action_id)
            except FailureError as err:  # one failed revert must not stop the others
                outcome, text = RevertOutcome.REVERT_FAILED, describe_failure(err)
            self._set(action_id, revert=outcome, revert_reason=text)

    async def _revert(self, action_id: str) -> tuple[RevertOutcome, str]:
        action = self._actions[action_id]
        undo = self._undo.get(action_id, UndoRecord())
        params = action.params()
        if isinstance(params, MigrateServerInput):
            if not undo.final_host or undo.final_host == params.source_node:
                return RevertOutcome.NOTHING_TO_REVERT, "the server did not leave its source"
            back = params.model_copy(update={"source_node": undo.final_host, "destination_node": params.source_node})
            result = await self._child(back, f"rollback {action_id}: {_describe(back)}")
            if result.status is MigrationStatus.SUCCEEDED:
                return RevertOutcome.REVERTED, f"moved back to {params.source_node}"
            if result.status is MigrationStatus.SKIPPED:
                return RevertOutcome.NOTHING_TO_REVERT, result.reason
            return RevertOutcome.REVERT_FAILED, result.reason
        if action.action_type in SERVER_ACTION_TYPES | {ActionType.WATCHER_ACTION}:
            if action.action_type is ActionType.WATCHER_ACTION:
                reverted = await self._watcher_activity(PlanActivity.WATCHER_ACTION_REVERT, action)
            else:
                reverted = await self._server_activity(PlanActivity.SERVER_ACTION_REVERT, action)
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
            await self._service_activity(request, f"rollback {action_id}")
            return RevertOutcome.REVERTED, f"nova-compute on {before.host} {before.previous_state.value} again"
        return RevertOutcome.NOTHING_TO_REVERT, f"{action.action_type.value} changes nothing"

    # -- bookkeeping --------------------------------------------------------

    def _finish(self) -> None:
        counts = count_states(self._statuses.values())
        failed = counts[ActionState.FAILED.value] > 0 or counts[ActionState.CANCELLED.value] > 0
        self._state = PlanState.FAILED if failed else PlanState.SUCCEEDED
        self._finished_at = workflow.now()
        summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
        if self._failed and self._plan is not None and self._plan.on_failure is OnFailure.ROLLBACK:
            reverts = Counter(s.revert.value for s in self._statuses.values() if s.revert is not None)
            summary += "; rollback: " + ", ".join(f"{n} {r}" for r, n in sorted(reverts.items()))
        self._reason = summary

    def _set(self, action_id: str, **changes: Any) -> None:
        self._statuses[action_id] = self._statuses[action_id].model_copy(update=changes)


def _outcome_of(result: WatcherActionResult) -> _Outcome:
    """A Watcher action's result as the plan records it (a failure names its phase)."""
    reason = f"{result.phase}: {result.reason}" if result.state is ActionState.FAILED else result.reason
    return _Outcome(result.state, reason)


def _reenables(undo: UndoRecord | None) -> bool:
    return bool(undo and undo.service and undo.service.previous_state is ServiceState.ENABLED)


def _migration_ends(action: PlanAction) -> tuple[str | None, str | None]:
    """A migration's source and named destination (None, None for other actions)."""
    if action.action_type is not ActionType.MIGRATE:
        return None, None
    params = action.params()
    assert isinstance(params, MigrateServerInput)
    return params.source_node, params.destination_node


def _describe(params: MigrateServerInput) -> str:
    dest = params.destination_node or "(scheduler)"
    return f"{params.migration_type.value} {params.resource_id} {params.source_node}→{dest}"


@workflow.defn(name=WorkflowType.BUILD_DRAIN_PLAN)
class BuildDrainPlan:
    """Build a ``drain-host`` plan on a worker (which holds the Nova credentials).

    The CLI runs this instead of reading Nova itself, prints the plan (dry
    run) or starts a ``MaintenancePlan`` with it.
    """

    @workflow.run
    async def run(self, request: DrainRequest | JsonValue) -> DrainPlan:
        """Read Nova and return the plan.

        Raises:
            InvalidInput: the request broke a rule.
            PreconditionFailed: unknown host or backup host, backup down.
        """
        drain = parse_drain_request(request)
        try:
            return await workflow.execute_activity(
                PlanActivity.BUILD_DRAIN_PLAN.value,
                drain,
                result_type=DrainPlan,
                summary=f"read Nova: servers on {drain.host}, compute services",
                **short_options(),
            )
        except ActivityError as err:
            raise from_failure(err) from None


def parse_drain_request(request: DrainRequest | JsonValue) -> DrainRequest:
    """Validate a raw drain request (see :func:`validate_input`)."""
    return validate_input(DrainRequest, request, what="drain-host request")

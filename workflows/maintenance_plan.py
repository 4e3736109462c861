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

No layers, no barriers: a slow migration holds one slot, not a whole chunk. This
module is the workflow (queries, updates, run, cancel); :mod:`~.plan_window`
schedules, :mod:`~.plan_actions` runs each action type. Large plans continue as
new before their history grows long. No I/O, no clock but ``workflow.now()``.
"""

from __future__ import annotations

import asyncio
from typing import Any, NoReturn

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from pydantic import JsonValue

    from watcher_temporal.contract import (
        SET_LIMITS_UPDATE,
        SET_MAX_PARALLEL_UPDATE,
        STATUS_QUERY,
        ActionParams,
        MaintenancePlanInput,
        OnFailure,
        PlanAction,
        PlanProgress,
        PlanState,
        PlanStatus,
        WindowLimits,
        WorkflowType,
        parse_limits_change,
        plan_id_problem,
        refuse_extra_arguments,
        validate_plan,
    )
    from watcher_temporal.contract.patches import (
        CANONICAL_ID_PATCH,
        HOST_LIMITS_PATCH,
        OUTCOME_PATCH,
        START_BATCH_PATCH,
    )
    from watcher_temporal.errors import InvalidInput
    from watcher_temporal.search_attributes import OUTCOME, PLAN_ID

    from . import plan_actions, plan_slots, plan_status
    from .plan_ordered_window import load_window, with_durations
    from .plan_window import PlanWindow


@workflow.defn(name=WorkflowType.MAINTENANCE_PLAN)
class MaintenancePlan:
    """Run a Watcher action plan with a sliding window and a failure policy."""

    def __init__(self) -> None:
        self._window = PlanWindow()
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._state = PlanState.PENDING
        self._runs = 0
        self._started_at: Any = None
        self._finished_at: Any = None
        self._reason = ""
        self._wake = False
        self._events_estimate = 0

    # -- operator surfaces --------------------------------------------------

    @workflow.query(name=STATUS_QUERY)
    def status(self) -> PlanStatus:
        """Every action's state, the plan's state and the counts."""
        return plan_status.status_of(
            self._window,
            state=self._state,
            runs=self._runs,
            started_at=self._started_at,
            finished_at=self._finished_at,
            reason=self._reason,
            now=workflow.now(),
        )

    @workflow.update(name=SET_MAX_PARALLEL_UPDATE)
    def set_max_parallel(self, value: JsonValue) -> int:
        """Change the global limit while the plan runs; returns the old one.

        Lowering it never stops running actions: new ones wait until the
        number running falls under the new limit.
        """
        previous = self._window.slots.limits.max_parallel
        self._window.slots.set_limits(self._window.slots.limits.model_copy(update={"max_parallel": value}))
        self._wake = True
        return previous

    @set_max_parallel.validator
    def _validate_max_parallel(self, value: JsonValue) -> None:
        plan_slots.check_max_parallel(value, self._state, loaded=self._window.plan is not None)

    @workflow.update(name=SET_LIMITS_UPDATE)
    def set_limits(self, change: JsonValue) -> WindowLimits:
        """Change any of the window's limits while the plan runs; returns the previous ones.

        ``change`` names the limits to change (``max_parallel``, ``max_parallel_per_host``,
        ``max_parallel_per_source``, ``max_parallel_per_destination``; 0 lifts the last two);
        the others stay. Running actions never stop: new ones wait until they fit.
        """
        previous = self._window.slots.limits
        self._window.slots.set_limits(previous.changed(parse_limits_change(change)))
        self._wake = True
        return previous

    @set_limits.validator
    def _validate_limits(self, change: JsonValue) -> None:
        plan_slots.check_limits_change(change, self._state, loaded=self._window.plan is not None)

    # -- the run ------------------------------------------------------------

    @workflow.run
    async def run(self, request: Any = None, progress: PlanProgress | None = None, *extra: JsonValue) -> PlanStatus:
        """Run the plan; see the module docstring.

        Args:
            request: The plan (its JSON, validated here: decoded as plain JSON, checked once).
            progress: Internal: what the previous run did, after continue-as-new.

        Returns:
            The final status (state SUCCEEDED or FAILED).

        Raises:
            InvalidInput: the plan broke a rule; names every problem.
        """
        refuse_extra_arguments("MaintenancePlan input", extra)
        progress = PlanProgress.model_validate(progress) if progress is not None else None  # plain JSON (``*extra``)
        # The first run checked the whole plan; a continued run only reads it back (O(plan) once, not twice).
        typed: dict[str, ActionParams] = {}  # the actions' parameters as validate_plan checked them
        plan = validate_plan(request, typed=typed) if progress is None else MaintenancePlanInput.model_validate(request)
        if workflow.patched(CANONICAL_ID_PATCH):
            problem = plan_id_problem(workflow.info().workflow_id)
            if problem is not None:
                raise InvalidInput(
                    f"workflow id {workflow.info().workflow_id[:120]!r}: {problem}",
                    [{"action": "(plan)", "field": "(workflow id)", "rule": problem}],
                )
        return await self._run_plan(plan, progress, typed=typed)

    async def _run_plan(
        self, plan: MaintenancePlanInput, progress: PlanProgress | None, *, typed: dict[str, ActionParams] | None = None
    ) -> PlanStatus:
        """Run a validated plan to its end (or continue as new); the body of every plan workflow.

        ``typed``: the actions' parameters, if :func:`validate_plan` has just checked them (not again)."""
        if progress is None:  # continue-as-new keeps the workflow's attributes
            workflow.upsert_search_attributes([PLAN_ID.value_set(workflow.info().workflow_id)])
        plan, self._window = await with_durations(plan, self._window, typed=typed)
        await load_window(self._window, plan, progress, host_limits=workflow.patched(HOST_LIMITS_PATCH))
        self._started_at = progress.started_at if progress else workflow.now()
        self._runs = progress.runs if progress else 0
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
            self._continue_as_new(plan, self._window.progress(started_at=self._started_at, runs=self._runs + 1))
        if self._window.failed and plan.on_failure is OnFailure.ROLLBACK:
            self._reason = "rolling back"
            await asyncio.shield(asyncio.ensure_future(plan_actions.rollback(self._window)))
        self._state, self._reason = plan_status.ending(self._window)
        self._finished_at = workflow.now()
        self._set_outcome(self._state.value)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.status()

    def _continue_as_new(self, plan: MaintenancePlanInput, progress: PlanProgress) -> NoReturn:
        workflow.continue_as_new(args=[plan, progress])

    def _set_outcome(self, outcome: str) -> None:
        """Make the plan's ending searchable (``WatcherOutcome``)."""
        plan_status.record_end()
        if workflow.patched(OUTCOME_PATCH):
            workflow.upsert_search_attributes([OUTCOME.value_set(outcome)])

    async def _schedule(self, plan: MaintenancePlanInput) -> bool:
        """Run the window until nothing more can start; True to continue as new."""
        window = self._window
        draining = False
        # 1,000 starts in one workflow task outlast the SDK's 2 s deadlock limit (older runs did that).
        batch = plan_actions.START_BATCH if workflow.patched(START_BATCH_PATCH) else None
        while True:
            started: list[PlanAction] = []
            if window.stopped():
                window.cancel_pending(f"not started: the plan stopped after action {window.failed_first!r} FAILED")
            elif not draining:
                started = window.start_ready(workflow.now(), at_most=batch)
                for action in started:
                    self._events_estimate += plan_actions.EVENTS_PER_ACTION[action.action_type]
                    self._tasks[action.id] = asyncio.create_task(self._run_action(action))
            if not window.running:
                return draining and window.pending_count() > 0
            info = workflow.info()
            # Nops (local activities) reach the history late: our own estimate counts them too.
            events = max(info.get_current_history_length(), self._events_estimate)
            if not draining and (info.is_continue_as_new_suggested() or events >= plan.max_history_events):
                workflow.logger.info("history is long: draining the window to continue as new")
                draining = True
            elif len(started) == batch:  # more may be ready: start them in the next workflow task
                self._events_estimate += plan_actions.EVENTS_PER_PAUSE
                await workflow.sleep(plan_actions.START_PAUSE, summary="start the next batch of actions")
                continue
            self._wake = False
            self._events_estimate += plan_actions.EVENTS_PER_WAKE
            await workflow.wait_condition(lambda: self._wake)

    async def _run_action(self, action: PlanAction) -> None:
        outcome = await plan_actions.settle(action)
        self._tasks.pop(action.id, None)
        self._window.finish(action.id, outcome, workflow.now())
        plan_status.record_progress(self._window, outcome.state)
        self._wake = True

    async def _cancel_running(self) -> None:
        """Cancel every running action and wait until each has settled."""
        self._state = PlanState.CANCELLING
        self._window.cancel_pending("not started: the plan was cancelled")
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.shield(asyncio.gather(*tasks, return_exceptions=True))
        self._state = PlanState.CANCELLED
        self._finished_at = workflow.now()
        self._reason = "cancelled: " + plan_status.counts_line(self._window)

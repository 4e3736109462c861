"""The plan window with expected durations: longest first, learning as migrations end, an ETA.

:class:`DurationPlanWindow` is :class:`~watcher_temporal.workflows.plan_window.PlanWindow`
plus :class:`~watcher_temporal.workflows.plan_durations.PlanDurations`:

* when the plan knows its servers' sizes, its slots are :class:`OrderedSlots`:
  the same limits, but ready actions are offered in the duration-aware order
  of :class:`~watcher_temporal.workflows.plan_order.ReadyQueue` instead of
  plan order;
* every migration that moved its server teaches the estimates what it took
  (carried over continue-as-new in ``PlanProgress.estimates``);
* :meth:`DurationPlanWindow.eta_seconds` answers the ``status`` query's ETA.

``MaintenancePlan`` uses it behind the ``duration-order`` patch; without
any known size it keeps plan order (and the plain slots' cost) and still
gives an ETA from the default size. Bookkeeping only: no Temporal call.
"""

from __future__ import annotations

from collections.abc import Container, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from watcher_temporal.contract import ActionParams, ActionState, MaintenancePlanInput, PlanProgress
    from watcher_temporal.contract.patches import DURATION_ORDER_PATCH, LOAD_IN_STEPS_PATCH

    from .plan_durations import PlanDurations, with_sizes
    from .plan_order import ReadyQueue
    from .plan_slots import Slots
    from .plan_window import PlanWindow

if TYPE_CHECKING:
    from .plan_outcome import Outcome


#: Plans of at least this many actions load in workflow tasks of their own (below, all of it costs a
#: few tens of milliseconds): a timer, :meth:`DurationPlanWindow.prepare`, a timer, the rest of the load.
LOAD_STEP_MIN_ACTIONS = 1000
#: The pause between two steps (a timer: it ends the workflow task).
LOAD_PAUSE = timedelta(milliseconds=1)


async def load_window(
    window: PlanWindow, plan: MaintenancePlanInput, progress: PlanProgress | None, *, host_limits: bool
) -> None:
    """Load the plan into the window; a large plan in steps (``plan-load-in-steps`` patch).

    Reading 10,000 actions (decoding and checking the input), their facts (``prepare``) and the window
    (``load``) each cost 50-150 ms of CPU here; together, in the first task of a continued run, they
    came near the SDK's 2 s deadlock limit on a loaded machine. Each now gets a workflow task of its own.
    """
    if (
        isinstance(window, DurationPlanWindow)
        and len(plan.actions) >= LOAD_STEP_MIN_ACTIONS
        and workflow.patched(LOAD_IN_STEPS_PATCH)
    ):
        await workflow.sleep(LOAD_PAUSE, summary=f"load the plan ({len(plan.actions)} actions): facts")
        window.prepare(plan, progress, host_limits=host_limits)
        await workflow.sleep(LOAD_PAUSE, summary=f"load the plan ({len(plan.actions)} actions): window")
    window.load(plan, progress, host_limits=host_limits)


async def with_durations(
    plan: MaintenancePlanInput, window: PlanWindow, *, typed: Mapping[str, ActionParams] | None = None
) -> tuple[MaintenancePlanInput, PlanWindow]:
    """Behind the ``duration-order`` patch: the plan with its sizes and a :class:`DurationPlanWindow`.

    Histories recorded before the patch replay with ``window`` (plan order, no sizes read).
    ``typed``: the actions' parameters :func:`validate_plan` already checked (not validated again).
    """
    if not workflow.patched(DURATION_ORDER_PATCH):
        return plan, window
    return await with_sizes(plan), DurationPlanWindow(typed=typed)


class OrderedSlots(Slots):
    """:class:`Slots` whose ready actions come out longest first, busiest source first."""

    def __init__(self, queue: ReadyQueue) -> None:
        super().__init__()
        self._queue = queue

    def make_ready(self, index: int, action_id: str) -> None:
        """An action's parents are done: it waits in the duration-aware queue."""
        self._queue.push(action_id)

    def next_fitting(self, pending: Container[str]) -> str | None:
        """Take the first ready action, in the duration-aware order, that fits every limit, and count it."""
        while True:
            taken = self._queue.take_first(lambda a: a not in pending or self._take(a), source_open=self._source_open)
            if taken is None or taken in pending:
                return taken  # an action cancelled meanwhile is only dropped from the queue

    def clear(self) -> None:
        """Nothing waits any more."""
        super().clear()
        self._queue.clear()

    def _take(self, action_id: str) -> bool:
        keys = self._keys[action_id]
        if any(self._load[k] >= self._capacity(k) for k in keys):
            return False
        self._load.update(keys)
        return True

    def _source_open(self, source: str) -> bool:
        key = ("source", source)
        return self._load[key] < self._capacity(key)


class DurationPlanWindow(PlanWindow):
    """A :class:`PlanWindow` that knows its actions' expected durations."""

    def __init__(self, *, typed: Mapping[str, ActionParams] | None = None) -> None:
        super().__init__()
        self.durations: PlanDurations | None = None
        self._typed = typed

    def load(self, plan: MaintenancePlanInput, progress: PlanProgress | None, *, host_limits: bool) -> None:
        """Take the plan as :meth:`PlanWindow.load` does, with its sizes and what earlier runs learned."""
        if self.durations is None:
            self.prepare(plan, progress, host_limits=host_limits)
        super().load(plan, progress, host_limits=host_limits)

    def prepare(self, plan: MaintenancePlanInput, progress: PlanProgress | None, *, host_limits: bool) -> None:
        """The first half of :meth:`load`: every action's facts and expected duration, the ready queue."""
        groups_of: dict[str, tuple[str, ...]] = {}
        if host_limits:
            for name, members in plan.exclusive_groups.items():
                for member in members:
                    groups_of[member] = (*groups_of.get(member, ()), name)
        sizes = plan.server_sizes or {}
        durations = PlanDurations(
            plan,
            sizes=sizes,
            estimates=progress.estimates if progress else None,
            groups_of=groups_of,
            typed=self._typed,
        )
        self._typed = None  # read once
        started = {s.id for s in progress.actions if s.state is not ActionState.PENDING} if progress else set()
        for action in plan.actions:
            if action.id not in started:
                durations.expect(action.id)
        self.durations = durations
        if sizes:
            self.slots = OrderedSlots(durations.queue)

    def progress(self, *, started_at: datetime, runs: int) -> PlanProgress:
        """What the next run needs, the estimates included."""
        progress = super().progress(started_at=started_at, runs=runs)
        assert self.durations is not None
        return progress.model_copy(update={"estimates": self.durations.estimates})

    def finish(self, action_id: str, outcome: Outcome, now: datetime) -> None:
        """Record the end as :meth:`PlanWindow.finish` does; a migration that moved teaches the estimates."""
        started = self.status_of(action_id).started_at
        super().finish(action_id, outcome, now)
        assert self.durations is not None
        self.durations.finished(
            action_id,
            outcome.state,
            final_host=outcome.undo.final_host if outcome.undo is not None else None,
            seconds=(now - started).total_seconds() if started is not None else 0.0,
        )

    def eta_seconds(self, now: datetime) -> float:
        """Expected seconds until every action still open has ended."""
        assert self.durations is not None
        open_ids = [*self.running, *(a.id for a in self.plan.actions if a.id not in self.statuses)] if self.plan else []
        return self.durations.eta_seconds({a: self.status_of(a) for a in open_ids}, self.slots.limits, now)

    def lower_bound_seconds(self) -> float:
        """The plan's lower bound at the current estimates (see :func:`~.plan_order.lower_bound`)."""
        assert self.durations is not None
        return self.durations.lower_bound_seconds(self.slots.limits.max_parallel_per_source)

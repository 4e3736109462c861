"""A plan's expected durations, inside the workflow: the order it starts actions in, and its ETA.

:class:`PlanDurations` holds, for one run of a plan, what
:mod:`watcher_temporal.workflows.plan_order` needs: each action's fixed facts
(size, hosts, groups, parents), the estimates learned from the plan's
finished migrations, and the ready queue. The scheduler calls it at a few
points (load, ready, start, end, status); everything here is deterministic
(no clock but the times the scheduler passes in, no I/O).

Without any known size the queue keeps plan order (nothing to tell the
migrations apart) and the ETA uses the default size.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from watcher_temporal.contract import (
        ActionParams,
        ActionState,
        ActionStatus,
        ActionType,
        MaintenancePlanInput,
        PlanActivity,
        ServerSize,
        WindowLimits,
    )
    from watcher_temporal.contract.durations import DurationEstimates, SizesRequest, SizesResult
    from watcher_temporal.errors import describe_failure

    from .activity_options import short_options
    from .plan_order import (
        ActionFacts,
        DurationModel,
        Limits,
        ReadyQueue,
        action_facts,
        eta_seconds,
        lower_bound,
        observe,
        typical_size,
    )


async def with_sizes(plan: MaintenancePlanInput) -> MaintenancePlanInput:
    """The plan with its migrated servers' sizes: as given, else read from Nova once (``plan.migration_sizes``).

    The sizes only order the migrations and feed the ETA: when they cannot
    be read the plan runs in plan order, with the default size.
    """
    if plan.server_sizes is not None:
        return plan
    servers = {
        str(a.input_parameters["resource_id"]): str(a.input_parameters["source_node"])
        for a in plan.actions
        if a.action_type is ActionType.MIGRATE
    }
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


#: Action states the ETA still waits for.
_OPEN = frozenset({ActionState.PENDING, ActionState.ONGOING})


class PlanDurations:
    """Expected durations of one plan run: facts, estimates, the ready queue."""

    def __init__(
        self,
        plan: MaintenancePlanInput,
        *,
        sizes: Mapping[str, ServerSize],
        estimates: DurationEstimates | None,
        groups_of: Mapping[str, tuple[str, ...]],
        typed: Mapping[str, ActionParams] | None = None,
    ) -> None:
        """``typed``: the actions' parameters already validated (action id → them), not validated again."""
        typical = typical_size(sizes)
        typed = typed or {}
        self.facts: dict[str, ActionFacts] = {
            a.id: action_facts(
                a, i, sizes=sizes, typical=typical, groups=groups_of.get(a.id, ()), typed=typed.get(a.id)
            )
            for i, a in enumerate(plan.actions)
        }
        self.estimates = estimates or DurationEstimates()
        self.model = DurationModel.of(self.estimates)
        self.queue = ReadyQueue(ordered=bool(sizes))

    def expect(self, action_id: str) -> None:
        """An action that has not started (counted in its source's work left)."""
        self.queue.expect(self.facts[action_id].job(self.model))

    def finished(self, action_id: str, state: ActionState, *, final_host: str | None, seconds: float) -> None:
        """An action ended: a migration that moved its server teaches the estimates what it took.

        Args:
            action_id: The action.
            state: How it ended.
            final_host: Where a SUCCEEDED migration left its server.
            seconds: What it took in the plan (start to end, workflow time).
        """
        facts = self.facts[action_id]
        if facts.migration_type is None or state is not ActionState.SUCCEEDED:
            return
        if final_host in (None, facts.source):
            return  # nothing moved: no bandwidth to learn from
        self.estimates = observe(
            self.estimates, migration_type=facts.migration_type, source=facts.source, gib=facts.gib, seconds=seconds
        )
        self.model = DurationModel.of(self.estimates)

    def eta_seconds(self, statuses: Mapping[str, ActionStatus], limits: WindowLimits, now: datetime) -> float:
        """Expected seconds until the last open action ends, from ``now``."""
        jobs, running = [], {}
        for action_id, status in statuses.items():
            if status.state not in _OPEN:
                continue
            job = self.facts[action_id].job(self.model)
            jobs.append(job)
            if status.state is ActionState.ONGOING and status.started_at is not None:
                running[action_id] = (now - status.started_at).total_seconds()
        window = Limits(
            max_parallel=limits.max_parallel,
            max_parallel_per_host=limits.max_parallel_per_host,
            max_parallel_per_source=limits.max_parallel_per_source,
            max_parallel_per_destination=limits.max_parallel_per_destination,
        )
        return round(eta_seconds(jobs, window, elapsed=running), 1)

    def lower_bound_seconds(self, per_source: int | None) -> float:
        """The whole plan's lower bound at today's estimates: over the sources, the largest sum of that host's
        migration times at its per-source limit (and never less than its longest one)."""
        return round(lower_bound((f.job(self.model) for f in self.facts.values()), per_source=per_source), 1)

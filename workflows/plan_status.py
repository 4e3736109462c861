"""What a plan tells its operator: every action's outcome, the ``status`` answer, the ending.

Functions over a :class:`~watcher_temporal.workflows.plan_window.PlanWindow`:
no Temporal call but the metric meter (``watcher_plan_*``; skipped on replay).
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from watcher_temporal.contract import (
        ActionState,
        OnFailure,
        PlanState,
        PlanStatus,
        count_states,
    )
    from watcher_temporal.metrics import record_plan_progress, record_plan_remaining

    from .plan_window import PlanWindow


def status_of(
    window: PlanWindow,
    *,
    state: PlanState,
    runs: int,
    started_at: datetime | None,
    finished_at: datetime | None,
    reason: str,
    now: datetime | None = None,
) -> PlanStatus:
    """The ``status`` query's answer (and the workflow's result); ``now`` (workflow time) for the ETA."""
    plan, limits = window.plan, window.slots.limits
    statuses = window.ordered_statuses()
    return PlanStatus(
        state=state,
        counts=count_states(statuses),
        actions=statuses,
        running=window.running_ids(),
        max_parallel=limits.max_parallel,
        max_parallel_per_host=limits.max_parallel_per_host if plan else 0,
        max_parallel_per_source=limits.max_parallel_per_source,
        max_parallel_per_destination=limits.max_parallel_per_destination,
        exclusive_groups=len(plan.exclusive_groups) if plan else 0,
        on_failure=plan.on_failure if plan else OnFailure.STOP,
        runs=runs,
        started_at=started_at,
        finished_at=finished_at,
        reason=reason,
        eta_seconds=_eta(window, state, now),
        lower_bound_seconds=_lower_bound(window),
    )


def _eta(window: PlanWindow, state: PlanState, now: datetime | None) -> float | None:
    """Seconds left: None before the start or without estimates (before the duration-order patch); 0 once ended."""
    eta = getattr(window, "eta_seconds", None)  # a DurationPlanWindow's
    if eta is None or state is PlanState.PENDING or now is None:
        return None
    if state not in (PlanState.ONGOING, PlanState.CANCELLING):
        return 0.0
    return eta(now)


def _lower_bound(window: PlanWindow) -> float | None:
    """The plan's lower bound at its estimates, when it has them (a DurationPlanWindow's)."""
    bound = getattr(window, "lower_bound_seconds", None)
    return bound() if bound is not None and window.plan is not None else None


def counts_line(window: PlanWindow) -> str:
    """How many actions are in each state, in one line."""
    return ", ".join(f"{n} {s}" for s, n in count_states(window.ordered_statuses()).items() if n)


def ending(window: PlanWindow) -> tuple[PlanState, str]:
    """The plan's final state and reason (counts, and the rollback's when one ran)."""
    counts = count_states(window.ordered_statuses())
    failed = counts[ActionState.FAILED.value] > 0 or counts[ActionState.CANCELLED.value] > 0
    summary = counts_line(window)
    if window.failed and window.plan is not None and window.plan.on_failure is OnFailure.ROLLBACK:
        reverts = Counter(s.revert.value for s in window.statuses.values() if s.revert is not None)
        summary += "; rollback: " + ", ".join(f"{n} {r}" for r, n in sorted(reverts.items()))
    return (PlanState.FAILED if failed else PlanState.SUCCEEDED), summary


def record_progress(window: PlanWindow, state: ActionState) -> None:
    """Count one action that ended and how many the plan has left (``watcher_plan_*`` metrics)."""
    info = workflow.info()
    remaining = window.pending_count() + len(window.running)  # O(1): activations stay O(finished actions)
    record_plan_progress(
        workflow.metric_meter(),
        plan_type=info.workflow_type,
        plan_id=info.workflow_id,
        outcome=state.value.lower(),
        remaining=remaining,
    )


def record_end() -> None:
    """The plan ended (or continues as new): nothing left to watch under this run."""
    record_plan_remaining(workflow.metric_meter(), plan_id=workflow.info().workflow_id, remaining=0)

"""Every update refusal is non-retryable and typed: the same request is refused the same way.

A validator's plain ``ValueError`` reaches the caller as a *retryable*
``ApplicationError``; the refusals are ``InvalidInput`` (non-retryable, with
``{field, rule}`` details), like bad workflow input.
"""

from __future__ import annotations

from typing import Any

import pytest
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from tests.conditions import until
from tests.workflows.plan_standins import PlanRecorder
from tests.workflows.test_maintenance_plan import migrate, plan_worker, start_plan
from watcher_temporal.contract import SET_LIMITS_UPDATE, SET_MAX_PARALLEL_UPDATE, PlanState, PlanStatus


async def refusal(handle: WorkflowHandle[Any, Any], update: str, arg: Any) -> ApplicationError:
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(update, arg)
    cause = refused.value.cause
    assert isinstance(cause, ApplicationError)
    return cause


async def test_plan_update_refusals_are_non_retryable(time_skipping_env: WorkflowEnvironment) -> None:
    rec = PlanRecorder()
    servers = [rec.server(seconds=600) for _ in range(2)]
    actions = [migrate(f"m{i}", s, f"src{i}", f"dst{i}") for i, s in enumerate(servers)]
    async with plan_worker(time_skipping_env, rec) as tq:
        handle = await start_plan(time_skipping_env, tq, {"actions": actions, "max_parallel": 1})
        await until(lambda: rec.running == 1, timeout=10, what="one migration runs")
        zero = await refusal(handle, SET_MAX_PARALLEL_UPDATE, 0)
        not_int = await refusal(handle, SET_MAX_PARALLEL_UPDATE, "many")
        bad_key = await refusal(handle, SET_LIMITS_UPDATE, {"max_parallel_per_moon": 2})
        result: PlanStatus = await handle.result()
    for cause in (zero, not_int, bad_key):
        assert (cause.type, cause.non_retryable) == ("InvalidInput", True), cause
        assert cause.details and all({"field", "rule"} <= set(p) for p in cause.details[0])
    assert "max_parallel" in zero.message and "max_parallel_per_moon" in bad_key.message
    assert result.state is PlanState.SUCCEEDED and result.max_parallel == 1  # nothing changed

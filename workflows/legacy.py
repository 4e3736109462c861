"""Workflow types kept only so that runs started by older versions still finish and replay.

* ``BuildDrainPlan``: an older CLI built a drain plan with it, then started a
  ``MaintenancePlan``; ``DrainHost`` does both now. Still registered (a
  worker must finish the runs such a CLI started); nothing new starts it.
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from pydantic import JsonValue

    from watcher_temporal.contract import DrainPlan, DrainRequest, PlanActivity, WorkflowType, validate_input
    from watcher_temporal.errors import from_failure

    from .activity_options import short_options


@workflow.defn(name=WorkflowType.BUILD_DRAIN_PLAN)
class BuildDrainPlan:
    """Build a ``drain-host`` plan on a worker (which holds the Nova credentials).

    The older CLI ran this instead of reading Nova itself, printed the plan
    (dry run) or started a ``MaintenancePlan`` with it.
    """

    @workflow.run
    async def run(self, request: DrainRequest | JsonValue) -> DrainPlan:
        """Read Nova and return the plan.

        Raises:
            InvalidInput: the request broke a rule.
            PreconditionFailed: unknown host or backup host, backup down.
        """
        drain = validate_input(DrainRequest, request, what="drain-host request")
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

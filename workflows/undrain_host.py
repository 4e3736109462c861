"""``UndrainHost``: bring a drained host back into service, in one workflow.

    validate ─► build the plan from the drain's record and live Nova (activity) ─► dry run / nothing to do: return
                                                                                └─► run it as a MaintenancePlan

The plan (see :mod:`watcher_temporal.activities.undrain`): re-enable the
host's compute service when ``drain-<host>`` disabled it, then, with
``move_back``, move back the servers that drain moved. It runs in this
workflow with ``MaintenancePlan``'s engine (``status`` query,
``set_max_parallel`` update, cancel, failure policy) as ``undrain-<host>``.
"""

from __future__ import annotations

from typing import NoReturn

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from pydantic import JsonValue

    from watcher_temporal.contract import (
        MaintenancePlanInput,
        PlanActivity,
        PlanProgress,
        UndrainPlan,
        UndrainRequest,
        UndrainResult,
        WorkflowType,
        refuse_extra_arguments,
        undrain_workflow_id,
        validate_input,
    )
    from watcher_temporal.errors import InvalidInput, from_failure

    from .activity_options import short_options
    from .maintenance_plan import MaintenancePlan


@workflow.defn(name=WorkflowType.UNDRAIN_HOST)
class UndrainHost(MaintenancePlan):
    """Build a host's undrain plan on a worker (Nova credentials, Temporal client) and run it."""

    def __init__(self) -> None:
        super().__init__()
        self._request: UndrainRequest | None = None
        self._built: UndrainPlan | None = None

    @workflow.run
    async def run(  # type: ignore[override]
        self,
        request: UndrainRequest | JsonValue = None,
        built: UndrainPlan | None = None,
        progress: PlanProgress | None = None,
        *extra: JsonValue,
    ) -> UndrainResult:
        """Build the plan, then run it unless this is a dry run or there is nothing to do.

        Args:
            request: What to undrain and how (raw JSON accepted, validated here).
            built: Internal: the plan built by the first run, after continue-as-new.
            progress: Internal: what the previous run did, after continue-as-new.

        Raises:
            InvalidInput: the request broke a rule, or the workflow id is not
                ``undrain-<host>``.
            PreconditionFailed: unknown host, or its drain still runs.
        """
        refuse_extra_arguments("undrain-host request", extra)
        undrain = validate_input(UndrainRequest, request, what="undrain-host request")
        built = UndrainPlan.model_validate(built) if built is not None else None
        progress = PlanProgress.model_validate(progress) if progress is not None else None
        self._request = undrain
        expected = undrain_workflow_id(undrain.host)
        if not undrain.dry_run and workflow.info().workflow_id != expected:
            raise InvalidInput(
                f"an undrain of {undrain.host} runs only as workflow {expected!r}",
                [{"field": "(workflow id)", "rule": f"must be {expected}"}],
            )
        if built is None:
            try:
                built = await workflow.execute_activity(
                    PlanActivity.BUILD_UNDRAIN_PLAN.value,
                    undrain,
                    result_type=UndrainPlan,
                    summary=f"read drain-{undrain.host} and Nova",
                    **short_options(),
                )
            except ActivityError as err:
                raise from_failure(err) from None
        self._built = built
        status = None
        if not undrain.dry_run and built.plan is not None:
            status = await self._run_plan(built.plan, progress)
        return UndrainResult(
            host=built.host,
            enables=built.enables,
            enable_reason=built.enable_reason,
            plan=built.plan,
            left_behind=built.left_behind,
            dry_run=undrain.dry_run,
            status=status,
        )

    def _continue_as_new(self, plan: MaintenancePlanInput, progress: PlanProgress) -> NoReturn:
        assert self._request is not None and self._built is not None
        workflow.continue_as_new(args=[self._request, self._built, progress])

"""``DrainHost``: empty a compute host for maintenance, in one workflow.

    validate ─► build the plan from live Nova (activity) ─► dry run: return it
                                                        └─► run it as a MaintenancePlan ─► DrainResult

The plan is Watcher's host_maintenance strategy (see
:mod:`watcher_temporal.activities.drain`). It runs in this same workflow with
``MaintenancePlan``'s engine (sliding window, failure policy, rollback,
cancel, ``status`` query, ``set_max_parallel`` update), so a drain leaves one
workflow behind, ``drain-<host>``, and a dry run ends as soon as the plan is
built.
"""

from __future__ import annotations

from typing import NoReturn

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from pydantic import JsonValue

    from watcher_temporal.contract import (
        DRAIN_QUERY,
        DrainPlan,
        DrainRequest,
        DrainResult,
        MaintenancePlanInput,
        PlanActivity,
        PlanProgress,
        PlanStatus,
        WorkflowType,
        drain_workflow_id,
        refuse_extra_arguments,
        validate_input,
    )
    from watcher_temporal.errors import InvalidInput, from_failure

    from .activity_options import short_options
    from .maintenance_plan import MaintenancePlan


@workflow.defn(name=WorkflowType.DRAIN_HOST)
class DrainHost(MaintenancePlan):
    """Build a host's drain plan on a worker (which holds the Nova credentials) and run it."""

    def __init__(self) -> None:
        super().__init__()
        self._request: DrainRequest | None = None
        self._built: DrainPlan | None = None

    @workflow.run
    async def run(  # type: ignore[override]
        self,
        request: DrainRequest | JsonValue = None,
        built: DrainPlan | None = None,
        progress: PlanProgress | None = None,
        *extra: JsonValue,
    ) -> DrainResult:
        """Build the plan, then run it unless this is a dry run.

        Args:
            request: What to drain and how (raw JSON accepted, validated here).
            built: Internal: the plan built by the first run, after continue-as-new.
            progress: Internal: what the previous run did, after continue-as-new.

        Raises:
            InvalidInput: the request broke a rule, or the workflow id is not
                ``drain-<host>``.
            PreconditionFailed: unknown host or backup host, backup down.
        """
        refuse_extra_arguments("drain-host request", extra)
        drain = validate_input(DrainRequest, request, what="drain-host request")
        # With ``*extra`` in the signature the SDK hands arguments over as plain JSON.
        built = DrainPlan.model_validate(built) if built is not None else None
        progress = PlanProgress.model_validate(progress) if progress is not None else None
        self._request = drain
        expected = drain_workflow_id(drain.host)
        if not drain.dry_run and workflow.info().workflow_id != expected:
            raise InvalidInput(
                f"a drain of {drain.host} runs only as workflow {expected!r}, so a host is never drained twice at once",
                [{"field": "(workflow id)", "rule": f"must be {expected}"}],
            )
        if built is None:
            try:
                built = await workflow.execute_activity(
                    PlanActivity.BUILD_DRAIN_PLAN.value,
                    drain,
                    result_type=DrainPlan,
                    summary=f"read Nova: servers on {drain.host}, compute services",
                    **short_options(),
                )
            except ActivityError as err:
                raise from_failure(err) from None
        self._built = built
        if drain.dry_run:
            return self._result(built, dry_run=True)
        return self._result(built, status=await self._run_plan(built.plan, progress))

    @workflow.query(name=DRAIN_QUERY)
    def drain(self) -> DrainResult | None:
        """The plan built so far and its status (None before it is built): what ``undrain-host`` reads."""
        if self._built is None:
            return None
        return self._result(self._built, status=None if self._window.plan is None else self.status())

    @staticmethod
    def _result(built: DrainPlan, *, dry_run: bool = False, status: PlanStatus | None = None) -> DrainResult:
        return DrainResult(
            host=built.host,
            dry_run=dry_run,
            plan=built.plan,
            left_behind=built.left_behind,
            exclusive_groups=built.exclusive_groups,
            status=status,
        )

    def _continue_as_new(self, plan: MaintenancePlanInput, progress: PlanProgress) -> NoReturn:
        assert self._request is not None and self._built is not None
        workflow.continue_as_new(args=[self._request, self._built, progress])

"""``DrainHosts``: empty several compute hosts (a rack) in one workflow, the checks held across the set.

    validate ─► build the plan from live Nova (activity) ─► dry run: return it
                                                        └─► run it as a MaintenancePlan ─► DrainHostsResult

The plan (:mod:`watcher_temporal.activities.drain_hosts`) disables every host
of the set before any server moves, checks capacity against the hosts
outside the set and keeps anti-affinity members from moving together across
the set; it carries the servers' sizes, so the longest migrations start
first and the ``status`` query gives an ETA from the start. It runs in this
same workflow with ``MaintenancePlan``'s engine (limits, ``set_limits``,
failure policy, rollback, cancel), as ``drain-hosts-<h1>+<h2>...`` (sorted),
so the same set is never drained twice at once.
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
        PlanStatus,
        WorkflowType,
        refuse_extra_arguments,
        validate_input,
    )
    from watcher_temporal.contract.drain_hosts import DrainHostsPlan, DrainHostsRequest, DrainHostsResult
    from watcher_temporal.contract.names import drain_hosts_workflow_id
    from watcher_temporal.errors import InvalidInput, from_failure
    from watcher_temporal.workflows.activity_options import short_options
    from watcher_temporal.workflows.maintenance_plan import MaintenancePlan


@workflow.defn(name=WorkflowType.DRAIN_HOSTS)
class DrainHosts(MaintenancePlan):
    """Build the drain plan of a set of hosts on a worker and run it."""

    def __init__(self) -> None:
        super().__init__()
        self._request: DrainHostsRequest | None = None
        self._built: DrainHostsPlan | None = None

    @workflow.run
    async def run(  # type: ignore[override]
        self,
        request: DrainHostsRequest | JsonValue = None,
        built: DrainHostsPlan | None = None,
        progress: PlanProgress | None = None,
        *extra: JsonValue,
    ) -> DrainHostsResult:
        """Build the plan, then run it unless this is a dry run.

        Args:
            request: Which hosts and how (raw JSON accepted, validated here).
            built: Internal: the plan built by the first run, after continue-as-new.
            progress: Internal: what the previous run did, after continue-as-new.

        Raises:
            InvalidInput: the request broke a rule, or the workflow id is not
                ``drain-hosts-<sorted hosts>``.
            PreconditionFailed: an unknown host, no host left outside the set,
                or the servers do not fit there.
        """
        refuse_extra_arguments("drain-hosts request", extra)
        drain = validate_input(DrainHostsRequest, request, what="drain-hosts request")
        built = DrainHostsPlan.model_validate(built) if built is not None else None
        progress = PlanProgress.model_validate(progress) if progress is not None else None
        self._request = drain
        expected = drain_hosts_workflow_id(drain.hosts)
        if not drain.dry_run and workflow.info().workflow_id != expected:
            raise InvalidInput(
                f"a drain of these hosts runs only as workflow {expected!r}, so a set is never drained twice at once",
                [{"field": "(workflow id)", "rule": f"must be {expected}"}],
            )
        if built is None:
            try:
                built = await workflow.execute_activity(
                    PlanActivity.BUILD_DRAIN_HOSTS_PLAN.value,
                    drain,
                    result_type=DrainHostsPlan,
                    summary=f"read Nova: servers on {len(drain.hosts)} hosts, compute services, placement",
                    **short_options(),
                )
            except ActivityError as err:
                raise from_failure(err) from None
        self._built = built
        if drain.dry_run:
            return self._result(built, dry_run=True)
        return self._result(built, status=await self._run_plan(built.plan, progress))

    @staticmethod
    def _result(built: DrainHostsPlan, *, dry_run: bool = False, status: PlanStatus | None = None) -> DrainHostsResult:
        return DrainHostsResult(**dict(built), dry_run=dry_run, status=status)

    def _continue_as_new(self, plan: MaintenancePlanInput, progress: PlanProgress) -> NoReturn:
        assert self._request is not None and self._built is not None
        built = self._built.model_copy(update={"plan": plan})
        workflow.continue_as_new(args=[self._request, built, progress])

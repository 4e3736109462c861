"""``undrain-host``: re-enable a drained host and, on request, move its servers back.

:func:`build_undrain_plan` is the strategy, pure (testable without Nova or
Temporal). The host's compute service is re-enabled only when the drain
disabled it: the drain's ``disable-<host>`` action SUCCEEDED (SKIPPED means it
was already disabled) and the service's ``disabled_reason`` is still the one
that drain wrote, ``watcher_maintaining by drain-<host>`` (a plan or Watcher
that disabled it since writes another); otherwise the result says why not. With
``move_back``, each server the drain migrated (action SUCCEEDED) goes back the
way it left (live or cold), but only when it is still on the host Nova's
migration record says the drain put it on.

The activity reads the drain from Temporal (``drain-<host>``: its result
when it completed, else its ``drain`` query) with the worker's client, so a
plain ``{"host": ..., "move_back": true}`` started from anywhere works. A host
that a ``drain-hosts`` disabled (its ``disabled_reason`` names
``drain-hosts-<set>``) is undrained from that drain's result: the host's own
``disable-<host>`` action and the migrations that left it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from pydantic import BaseModel
from temporalio import activity
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from watcher_temporal.contract import (
    DRAIN_QUERY,
    MAINTENANCE_DISABLED_REASON,
    ActionState,
    ActionType,
    DrainResult,
    LeftBehind,
    MaintenancePlanInput,
    PlanAction,
    PlanActivity,
    ServerSnapshot,
    ServiceState,
    UndrainPlan,
    UndrainRequest,
    drain_disabled_reason,
    drain_workflow_id,
    validate_plan,
)
from watcher_temporal.contract.drain_hosts import DrainHostsResult
from watcher_temporal.contract.names import DRAIN_HOSTS_ID_PREFIX
from watcher_temporal.errors import PreconditionFailed

from .blocking import call_blocking
from .nova import (
    DONE_MIGRATION_STATUSES,
    NOVA_MIGRATION_TYPE,
    ComputeService,
    MigrationRecord,
    NovaGateway,
)

#: Server statuses each migration type can move.
MOVABLE = {"live": frozenset({"ACTIVE"}), "cold": frozenset({"ACTIVE", "SHUTOFF"})}


def drain_of(host: str, disabled_reason: str | None) -> str:
    """The id of the drain that disabled ``host``: the ``drain-hosts-<set>`` its reason names, else ``drain-<host>``."""
    named = (disabled_reason or "").removeprefix(f"{MAINTENANCE_DISABLED_REASON} by ")
    return named if named.startswith(DRAIN_HOSTS_ID_PREFIX) else drain_workflow_id(host)


def as_host_drain(drained: DrainHostsResult, host: str) -> DrainResult:
    """One host's part of a ``drain-hosts``: its ``disable-<host>`` action and the migrations that left it."""
    kept = [
        a
        for a in drained.plan.actions
        if a.id == f"disable-{host}"
        or (a.action_type is ActionType.MIGRATE and a.input_parameters.get("source_node") == host)
    ]
    ids = {a.id for a in kept}
    status = drained.status
    if status is not None:
        status = status.model_copy(update={"actions": [a for a in status.actions if a.id in ids]})
    return DrainResult(
        host=host,
        plan=drained.plan.model_copy(update={"actions": kept}),
        status=status,
    )


def _disabled_reason_of(drain: DrainResult, drain_id: str) -> str:
    """The ``disabled_reason`` that drain wrote on ``drain.host``."""
    if drain_id.startswith(DRAIN_HOSTS_ID_PREFIX):
        disable = next((a for a in drain.plan.actions if a.id == f"disable-{drain.host}"), None)
        written = disable.input_parameters.get("disabled_reason") if disable is not None else None
        return str(written) if written else drain_disabled_reason(drain.host)
    return drain_disabled_reason(drain.host)


def _enable_decision(host: str, drain: DrainResult | None, missing: str, service: ComputeService) -> tuple[bool, str]:
    if service.enabled:
        return False, f"the compute service of {host} is already enabled"
    if drain is None:
        return False, f"{missing}; a host this tool did not disable is not enabled"
    disable_id = f"disable-{host}"
    disable = next((a for a in drain.plan.actions if a.id == disable_id), None)
    if disable is None:
        return False, "the drain did not disable the host (a partial drain, or disable_host false)"
    state = next((a.state for a in drain.status.actions if a.id == disable_id), None) if drain.status else None
    if state is not ActionState.SUCCEEDED:
        seen = state.value if state else "not run"
        return False, f"the drain's {disable_id} action is {seen}: it is not what disabled the host"
    # The drain wrote its own workflow id into the reason: the service still holding exactly
    # that reason is what proves nobody (a plan, an operator, Watcher) disabled it since.
    drain_id = drain_of(host, service.disabled_reason)
    ours = _disabled_reason_of(drain, drain_id)
    if disable.input_parameters.get("disabled_reason") != ours or not ours.endswith(drain_id):
        return False, (
            f"the drain's reason does not name {drain_id} (a drain from before undrain-host "
            f"checked it): enable the host by hand once nobody else needs it disabled"
        )
    if service.disabled_reason != ours:
        reason = (service.disabled_reason or "")[:100]
        return False, f"disabled_reason is now {reason!r}, not {ours!r}: someone disabled it since"
    return True, f"the drain disabled it ({ours})"


def moved_servers(drain: DrainResult) -> list[tuple[str, str | None, str]]:
    """``(server id, name, migration type)`` of every migration the drain completed, in plan order."""
    done = {a.id for a in drain.status.actions if a.state is ActionState.SUCCEEDED} if drain.status else set()
    moved = []
    for action in drain.plan.actions:
        if action.action_type is ActionType.MIGRATE and action.id in done:
            params = action.input_parameters
            name = params.get("resource_name")
            moved.append((str(params["resource_id"]), str(name) if name else None, str(params["migration_type"])))
    return moved


def _drain_destination(host: str, how: str, records: list[MigrationRecord]) -> str | None:
    """Where the newest finished migration of that type out of ``host`` put the server."""
    for record in records:  # newest first
        if (
            record.source_compute == host
            and record.status in DONE_MIGRATION_STATUSES
            and record.migration_type in (None, NOVA_MIGRATION_TYPE[how])
        ):
            return record.dest_compute
    return None


def _back_reason(host: str, how: str, server: ServerSnapshot | None, records: list[MigrationRecord]) -> str | None:
    """Why a moved server is not moved back (None: it goes back)."""
    if server is None:
        return "deleted since the drain"
    if server.host == host:
        return f"already on {host}"
    put = _drain_destination(host, how, records)
    if put is None:
        return f"Nova has no finished {how} migration of it out of {host}"
    if server.host != put:
        return f"moved since: the drain put it on {put}, it is on {server.host}"
    if server.task_state:
        return f"a task is in progress (task_state={server.task_state})"
    if server.status not in MOVABLE[how]:
        return f"it left by {how} migration, which cannot move a {server.status} server"
    return None


def build_undrain_plan(
    request: UndrainRequest,
    *,
    drain: DrainResult | None,
    missing: str = "",
    service: ComputeService,
    servers: Mapping[str, tuple[ServerSnapshot | None, list[MigrationRecord]]],
) -> UndrainPlan:
    """Re-enable (if the drain disabled it) and move back (with ``move_back``), as a ``MaintenancePlan`` input.

    Args:
        request: The host and the options.
        drain: The host's drain (None when there is none to read).
        missing: Why there is no drain record, when ``drain`` is None.
        service: The host's compute service now.
        servers: Per server the drain moved: its snapshot now (None when
            deleted) and its migration records, newest first.
    """
    enables, enable_reason = _enable_decision(request.host, drain, missing, service)
    actions: list[PlanAction] = []
    if enables:
        actions.append(
            PlanAction(
                id=f"enable-{request.host}",
                action_type=ActionType.CHANGE_NOVA_SERVICE_STATE,
                input_parameters={"resource_name": request.host, "state": ServiceState.ENABLED.value},
            )
        )
    left_behind: list[LeftBehind] = []
    if request.move_back and drain is not None:
        usable = enables or service.enabled
        for server_id, name, how in moved_servers(drain):
            server, records = servers.get(server_id, (None, []))
            reason = _back_reason(request.host, how, server, records)
            if reason is None and not usable:
                reason = f"{request.host} stays disabled ({enable_reason})"
            if reason is not None or server is None:
                status = server.status if server is not None else "DELETED"
                left_behind.append(
                    LeftBehind(resource_id=server_id, resource_name=name, status=status, reason=reason or "gone")
                )
                continue
            params: dict[str, str] = {
                "resource_id": server_id,
                "migration_type": how,
                "source_node": str(server.host),
                "destination_node": request.host,
            }
            if name:
                params["resource_name"] = name
            actions.append(
                PlanAction(
                    id=f"migrate-{server_id}",
                    action_type=ActionType.MIGRATE,
                    input_parameters=dict(params),
                    parents=[a.id for a in actions[:1] if enables],
                )
            )
    plan = None
    if actions:
        plan = validate_plan(
            MaintenancePlanInput(
                actions=actions,
                max_parallel=request.max_parallel,
                max_parallel_per_host=request.max_parallel,
                on_failure=request.on_failure,
            )
        )
    return UndrainPlan(
        host=request.host, enables=enables, enable_reason=enable_reason, plan=plan, left_behind=left_behind
    )


def _plain(value: object) -> object:
    """A payload as plain data (the client may already hand back a model)."""
    return value.model_dump(mode="json") if isinstance(value, BaseModel) else value


class UndrainActivities:
    """The activity that builds an undrain plan from the drain's record and live Nova."""

    def __init__(self, nova: NovaGateway, client: Client | None) -> None:
        self._nova = nova
        self._client = client

    def all(self) -> list[Callable[..., object]]:
        """The activities to register on a worker."""
        return [self.build_undrain_plan]

    @activity.defn(name=PlanActivity.BUILD_UNDRAIN_PLAN.value)
    async def build_undrain_plan(self, request: UndrainRequest) -> UndrainPlan:
        """Read ``drain-<host>`` from Temporal and the host's service and servers from Nova; build the plan.

        Raises:
            PreconditionFailed: the host is unknown, or its drain still runs.
        """
        service = await call_blocking(self._nova.compute_service, request.host)
        if service is None:
            raise PreconditionFailed(f"{request.host!r} is not a nova-compute host of this cloud")
        drain, missing = await self._read_drain(request.host, drain_of(request.host, service.disabled_reason))
        servers: dict[str, tuple[ServerSnapshot | None, list[MigrationRecord]]] = {}
        if request.move_back and drain is not None:
            for server_id, _name, _how in moved_servers(drain):
                snapshot = await call_blocking(self._nova.get_server, server_id)
                records = await call_blocking(self._nova.migrations_of, server_id) if snapshot else []
                servers[server_id] = (snapshot, records)
        return build_undrain_plan(request, drain=drain, missing=missing, service=service, servers=servers)

    async def _read_drain(self, host: str, workflow_id: str) -> tuple[DrainResult | None, str]:
        """The host's drain (result, or its ``drain`` query when it did not complete), or why there is none.

        Raises:
            PreconditionFailed: the drain still runs.
        """
        if self._client is None:
            return None, "this worker has no Temporal client to read the drain with"
        handle = self._client.get_workflow_handle(workflow_id)
        try:
            described = await handle.describe()
        except RPCError as err:
            if err.status is RPCStatusCode.NOT_FOUND:
                return None, f"no {workflow_id} workflow is known (never drained, or past the namespace's retention)"
            raise
        if described.status is WorkflowExecutionStatus.RUNNING:
            raise PreconditionFailed(f"{workflow_id} is still running: let it finish or cancel it first")
        if workflow_id.startswith(DRAIN_HOSTS_ID_PREFIX):
            if described.status is not WorkflowExecutionStatus.COMPLETED:
                return None, f"{workflow_id} ended {described.status.name if described.status else 'without a result'}"
            drained = DrainHostsResult.model_validate(_plain(await handle.result()))
            if drained.dry_run:
                return None, f"{workflow_id} was a dry run"
            return as_host_drain(drained, host), ""
        if described.status is WorkflowExecutionStatus.COMPLETED:
            result = DrainResult.model_validate(_plain(await handle.result()))
        else:
            queried = await handle.query(DRAIN_QUERY)
            if queried is None:
                return None, f"{workflow_id} ended before it built its plan"
            result = DrainResult.model_validate(_plain(queried))
        if result.dry_run:
            return None, f"{workflow_id} was a dry run"
        return result, ""

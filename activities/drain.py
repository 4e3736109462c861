"""``drain-host``: build Watcher's host-maintenance plan from live Nova state.

:func:`build_drain_plan` is the strategy, pure (testable without Nova):

* disable the drained host's nova-compute service (reason
  ``watcher_maintaining``); it is not re-enabled afterwards;
* with a backup host: enable it first when it is disabled, and send every
  server there; without one, the Nova scheduler picks per server;
* ACTIVE servers move live, others (SHUTOFF) cold, unless live or cold
  migration is forbidden; a server no allowed migration can move stays
  behind and is reported.

The activity reads Nova (services, servers on the host) and calls it; it runs
on the worker, so the CLI needs no Nova credentials.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from temporalio import activity

from watcher_temporal.activities.blocking import call_blocking
from watcher_temporal.activities.nova import ComputeService, NovaGateway
from watcher_temporal.contract import (
    MAINTENANCE_DISABLED_REASON,
    ActionType,
    DrainPlan,
    DrainRequest,
    LeftBehind,
    MaintenancePlanInput,
    MigrationType,
    PlanAction,
    PlanActivity,
    ServerSnapshot,
    ServiceState,
    validate_plan,
)
from watcher_temporal.errors import PreconditionFailed

#: Server statuses Nova can cold-migrate.
COLD_MIGRATABLE = frozenset({"ACTIVE", "SHUTOFF"})


def _migration_type(server: ServerSnapshot, request: DrainRequest) -> MigrationType | str:
    """The migration that moves ``server``, or why none can."""
    if server.task_state:
        return f"a task is in progress (task_state={server.task_state})"
    if server.status == "ACTIVE" and request.allow_live:
        return MigrationType.LIVE
    if server.status in COLD_MIGRATABLE and request.allow_cold:
        return MigrationType.COLD
    if server.status == "ACTIVE":
        return "live and cold migration are both forbidden"
    if server.status in COLD_MIGRATABLE:
        return f"a {server.status} server moves only by cold migration, which is forbidden"
    return f"Nova cannot migrate a server in status {server.status}"


def _service(services: Sequence[ComputeService], host: str, what: str) -> ComputeService:
    for service in services:
        if service.host == host:
            return service
    known = ", ".join(s.host for s in services) or "none"
    raise PreconditionFailed(f"{what} {host!r} is not a nova-compute host of this cloud (hosts: {known})")


def build_drain_plan(
    request: DrainRequest, servers: Sequence[ServerSnapshot], services: Sequence[ComputeService]
) -> DrainPlan:
    """Watcher's host_maintenance strategy as a ``MaintenancePlan`` input.

    Args:
        request: The host to drain and the options.
        servers: The servers Nova places on ``request.host``.
        services: Every nova-compute service.

    Raises:
        PreconditionFailed: the host or the backup host is unknown, the
            backup host is the drained host, or its service is down.
    """
    _service(services, request.host, "host")
    actions = [
        PlanAction(
            id=f"disable-{request.host}",
            action_type=ActionType.CHANGE_NOVA_SERVICE_STATE,
            input_parameters={
                "resource_name": request.host,
                "state": ServiceState.DISABLED.value,
                "disabled_reason": MAINTENANCE_DISABLED_REASON,
            },
        )
    ]
    parents = [actions[0].id]
    if request.backup_host is not None:
        if request.backup_host == request.host:
            raise PreconditionFailed("backup host must differ from the drained host")
        backup = _service(services, request.backup_host, "backup host")
        if not backup.up or backup.forced_down:
            raise PreconditionFailed(f"backup host {backup.host!r}: its compute service is down")
        if not backup.enabled:
            enable = PlanAction(
                id=f"enable-{backup.host}",
                action_type=ActionType.CHANGE_NOVA_SERVICE_STATE,
                input_parameters={"resource_name": backup.host, "state": ServiceState.ENABLED.value},
            )
            actions.append(enable)
            parents.append(enable.id)
    left_behind = []
    for server in sorted(servers, key=lambda s: (s.name or "", s.id)):
        how = _migration_type(server, request)
        if not isinstance(how, MigrationType):
            left_behind.append(
                LeftBehind(resource_id=server.id, resource_name=server.name, status=server.status, reason=how)
            )
            continue
        params: dict[str, str | float] = {
            "resource_id": server.id,
            "migration_type": how.value,
            "source_node": request.host,
        }
        if request.poll_interval_seconds is not None:
            params["poll_interval_seconds"] = request.poll_interval_seconds
        if request.timeout_seconds is not None:
            params["timeout_seconds"] = request.timeout_seconds
        if request.backup_host is not None:
            params["destination_node"] = request.backup_host
        if server.name:
            params["resource_name"] = server.name
        actions.append(
            PlanAction(
                id=f"migrate-{server.id}",
                action_type=ActionType.MIGRATE,
                input_parameters=dict(params),
                parents=list(parents),
            )
        )
    plan = validate_plan(
        MaintenancePlanInput(
            actions=actions,
            max_parallel=request.max_parallel,
            max_parallel_per_host=request.max_parallel_per_host or request.max_parallel,
            on_failure=request.on_failure,
        )
    )
    return DrainPlan(host=request.host, plan=plan, left_behind=left_behind)


class DrainActivities:
    """The activity that builds a drain plan from live Nova state."""

    def __init__(self, nova: NovaGateway) -> None:
        self._nova = nova

    def all(self) -> list[Callable[..., object]]:
        """The activities to register on a worker."""
        return [self.build_drain_plan]

    @activity.defn(name=PlanActivity.BUILD_DRAIN_PLAN.value)
    async def build_drain_plan(self, request: DrainRequest) -> DrainPlan:
        """Read the host's servers and the compute services; build the plan.

        Raises:
            PreconditionFailed: see :func:`build_drain_plan`.
        """
        services = await call_blocking(self._nova.compute_services)
        servers = await call_blocking(self._nova.servers_on_host, request.host)
        return build_drain_plan(request, servers, services)

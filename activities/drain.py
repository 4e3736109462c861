"""``drain-host``: build a safe host-maintenance plan from live Nova state.

:func:`build_drain_plan` is the strategy, pure (testable without Nova):

* disable the drained host's nova-compute service (reason
  ``watcher_maintaining by drain-<host>``: undrain-host re-enables only a host
  whose service still says so) unless the drain is partial (``servers`` /
  ``limit``) or ``disable_host`` says otherwise; it is not re-enabled
  afterwards (``undrain-host`` does that);
* with a backup host: enable it first when it is disabled, and send every
  server there; without one, the Nova scheduler picks per server;
* each server's maintenance policy, server metadata
  ``watcher-temporal:maintenance`` (:data:`MAINTENANCE_POLICIES`), else
  ACTIVE servers move live, others (SHUTOFF) cold, unless live or cold
  migration is forbidden; a server no allowed way can move stays behind and
  is reported with the reason;
* members of one anti-affinity (or soft-anti-affinity) server group never
  move at the same time (the scheduler then sees each move's result before
  it places the next member, Nova bug 1821755); with a backup host, a member
  whose group already has a member there (or bound there) stays behind;
* before anything is written to Nova: the servers must fit on the enabled
  hosts left (placement, :mod:`watcher_temporal.activities.drain_capacity`),
  unless ``ignore_capacity``.

The activity reads Nova and placement; it runs on the worker, so the CLI
needs no Nova credentials.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from temporalio import activity

from watcher_temporal.activities.blocking import call_blocking
from watcher_temporal.activities.drain_capacity import refuse_unplaced, unplaced_servers
from watcher_temporal.activities.nova import (
    MAINTENANCE_POLICY_KEY,
    ComputeService,
    DrainServer,
    HostCapacity,
    NovaGateway,
    ServerGroupFacts,
)
from watcher_temporal.contract import (
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
    drain_disabled_reason,
    validate_plan,
)
from watcher_temporal.errors import PreconditionFailed

#: Server statuses Nova can cold-migrate.
COLD_MIGRATABLE = frozenset({"ACTIVE", "SHUTOFF"})
#: Values of the ``watcher-temporal:maintenance`` server metadata key.
#: ``live``: live-migrate (a SHUTOFF server, with nothing running, moves cold);
#: ``cold``: cold-migrate even when ACTIVE (Nova powers it off and on again);
#: ``stop-and-cold``: stop it (a plan ``stop`` action), cold-migrate it, and
#: leave it SHUTOFF on its new host; ``skip``: never move it.
MAINTENANCE_POLICIES = ("live", "cold", "stop-and-cold", "skip")
#: Most characters of an untrusted metadata value quoted in a reason.
MAX_QUOTED = 60


@dataclass(frozen=True)
class _Move:
    """How one server leaves: its migration, after a stop when asked."""

    server: ServerSnapshot
    how: MigrationType
    stop_first: bool = False


@dataclass
class _Selection:
    moves: list[_Move] = field(default_factory=list)
    left_behind: list[LeftBehind] = field(default_factory=list)

    def leave(self, server: ServerSnapshot, reason: str) -> None:
        self.left_behind.append(
            LeftBehind(resource_id=server.id, resource_name=server.name, status=server.status, reason=reason)
        )


def _default_move(server: ServerSnapshot, request: DrainRequest) -> MigrationType | str:
    """The migration that moves ``server`` without a policy, or why none can."""
    if server.status == "ACTIVE" and request.allow_live:
        return MigrationType.LIVE
    if server.status in COLD_MIGRATABLE and request.allow_cold:
        return MigrationType.COLD
    if server.status == "ACTIVE":
        return "live and cold migration are both forbidden"
    if server.status in COLD_MIGRATABLE:
        return f"a {server.status} server moves only by cold migration, which is forbidden"
    return f"Nova cannot migrate a server in status {server.status}"


def _move(server: ServerSnapshot, policy: str | None, request: DrainRequest) -> _Move | str:
    """How ``server`` leaves under its maintenance policy, or why it stays."""
    if server.task_state:
        return f"a task is in progress (task_state={server.task_state})"
    if policy is None:
        how = _default_move(server, request)
        return _Move(server, how) if isinstance(how, MigrationType) else how
    if policy not in MAINTENANCE_POLICIES:
        return (
            f"unknown maintenance policy {policy[:MAX_QUOTED]!r} in metadata {MAINTENANCE_POLICY_KEY} "
            f"(allowed: {', '.join(MAINTENANCE_POLICIES)})"
        )
    if policy == "skip":
        return f"maintenance policy skip (metadata {MAINTENANCE_POLICY_KEY})"
    if server.status not in COLD_MIGRATABLE:
        return f"Nova cannot migrate a server in status {server.status}"
    if policy == "live" and server.status == "ACTIVE":
        return (
            _Move(server, MigrationType.LIVE) if request.allow_live else "policy live, but live migration is forbidden"
        )
    if not request.allow_cold:
        return f"policy {policy} needs a cold migration, which is forbidden"
    return _Move(server, MigrationType.COLD, stop_first=policy == "stop-and-cold" and server.status == "ACTIVE")


def _service(services: Sequence[ComputeService], host: str, what: str) -> ComputeService:
    for service in services:
        if service.host == host:
            return service
    known = ", ".join(s.host for s in services) or "none"
    raise PreconditionFailed(f"{what} {host!r} is not a nova-compute host of this cloud (hosts: {known})")


def _selected(request: DrainRequest, servers: Sequence[DrainServer]) -> list[DrainServer]:
    """The servers ``request.servers`` names (all without it), in name order.

    Raises:
        PreconditionFailed: a name or UUID is not on the host, or a name
            matches several servers there.
    """
    ordered = sorted(servers, key=lambda s: (s.server.name or "", s.server.id))
    if request.servers is None:
        return ordered
    wanted, problems = set(), []
    for ref in request.servers:
        matches = [s.server.id for s in ordered if ref in (s.server.id, s.server.name)]
        if not matches:
            problems.append(f"{ref[:MAX_QUOTED]!r} is not on {request.host}")
        elif len(matches) > 1:
            problems.append(f"name {ref[:MAX_QUOTED]!r} matches {len(matches)} servers on {request.host}; give UUIDs")
        wanted.update(matches)
    if problems:
        more = f"; and {len(problems) - 10} more" if len(problems) > 10 else ""
        raise PreconditionFailed("servers: " + "; ".join(problems[:10]) + more)
    return [s for s in ordered if s.server.id in wanted]


def _select_moves(request: DrainRequest, servers: Sequence[DrainServer]) -> _Selection:
    selection = _Selection()
    for item in _selected(request, servers):
        move = _move(item.server, item.maintenance, request)
        if isinstance(move, str):
            selection.leave(item.server, move)
        elif request.limit is not None and len(selection.moves) >= request.limit:
            selection.leave(item.server, f"beyond the limit of {request.limit} servers")
        else:
            selection.moves.append(move)
    return selection


def _keep_groups_off_backup(selection: _Selection, groups: Sequence[ServerGroupFacts], backup: str) -> None:
    """With a backup host, a group gets at most one member there; later members stay behind."""
    moving = {m.server.id for m in selection.moves}
    occupied = {g.id for g in groups if any(h == backup and m not in moving for m, h in g.member_hosts.items())}
    kept = []
    for move in selection.moves:
        mine = [g for g in groups if move.server.id in g.member_hosts]
        clash = next((g for g in mine if g.id in occupied), None)
        if clash is not None:
            selection.leave(
                move.server,
                f"server group {clash.name or clash.id} ({clash.policy}) already has a member on, "
                f"or bound for, backup host {backup}",
            )
            continue
        occupied.update(g.id for g in mine)
        kept.append(move)
    selection.moves = kept


def _exclusive_groups(moves: Sequence[_Move], groups: Sequence[ServerGroupFacts]) -> dict[str, list[str]]:
    """Per group with two or more moving members, their migrate action ids (plan order)."""
    exclusive = {}
    for group in groups:
        members = [f"migrate-{m.server.id}" for m in moves if m.server.id in group.member_hosts]
        if len(members) > 1:
            exclusive[f"server-group-{group.id}"] = members
    return exclusive


def _migration_actions(request: DrainRequest, move: _Move, parents: list[str]) -> list[PlanAction]:
    server = move.server
    timing: dict[str, float] = {}
    if request.poll_interval_seconds is not None:
        timing["poll_interval_seconds"] = request.poll_interval_seconds
    if request.timeout_seconds is not None:
        timing["timeout_seconds"] = request.timeout_seconds
    actions = []
    if move.stop_first:
        stop = PlanAction(
            id=f"stop-{server.id}",
            action_type=ActionType.STOP,
            input_parameters={"resource_id": server.id, **timing},
            parents=list(parents),
        )
        actions.append(stop)
        parents = [stop.id]
    params: dict[str, str | float] = {
        "resource_id": server.id,
        "migration_type": move.how.value,
        "source_node": request.host,
        **timing,
    }
    if request.backup_host is not None:
        params["destination_node"] = request.backup_host
    if server.name:
        params["resource_name"] = server.name
    actions.append(
        PlanAction(
            id=f"migrate-{server.id}", action_type=ActionType.MIGRATE, input_parameters=dict(params), parents=parents
        )
    )
    return actions


def _plan_input(
    request: DrainRequest, actions: list[PlanAction], exclusive_groups: dict[str, list[str]]
) -> MaintenancePlanInput:
    """The one place a drain's limits and exclusive groups enter the ``MaintenancePlan`` input.

    Every migration of a drain leaves the drained host, so the per-source
    limit (default 1, Nova's ``max_concurrent_live_migrations``) is what paces
    it; the per-host limit defaults to ``max_parallel``.
    """
    return validate_plan(
        MaintenancePlanInput(
            actions=actions,
            max_parallel=request.max_parallel,
            max_parallel_per_host=request.max_parallel_per_host or request.max_parallel,
            max_parallel_per_source=request.max_parallel_per_source,
            max_parallel_per_destination=request.max_parallel_per_destination,
            on_failure=request.on_failure,
            exclusive_groups=exclusive_groups,
        )
    )


def _capacity_hosts(request: DrainRequest, services: Sequence[ComputeService]) -> list[str]:
    """Where the servers may go: the backup host, else the enabled, up computes but the drained one."""
    if request.backup_host is not None:
        return [request.backup_host]
    return [s.host for s in services if s.host != request.host and s.enabled and s.up and not s.forced_down]


def build_drain_plan(
    request: DrainRequest,
    servers: Sequence[ServerSnapshot | DrainServer],
    services: Sequence[ComputeService],
    *,
    capacities: Sequence[HostCapacity] | None = None,
    groups: Sequence[ServerGroupFacts] = (),
) -> DrainPlan:
    """Watcher's host_maintenance strategy, made safe, as a ``MaintenancePlan`` input.

    Args:
        request: The host to drain and the options.
        servers: The servers Nova places on ``request.host``.
        services: Every nova-compute service.
        capacities: Free resources of the hosts the servers may go to
            (see :func:`_capacity_hosts`); None skips the capacity check.
        groups: The anti-affinity server groups of the host's servers.

    Raises:
        PreconditionFailed: the host or the backup host is unknown, the
            backup host is the drained host or its service is down, a
            named server is not on the host, or the servers do not fit.
    """
    _service(services, request.host, "host")
    items = [s if isinstance(s, DrainServer) else DrainServer(server=s, resources={}) for s in servers]
    base: list[PlanAction] = []
    if request.disables_host():
        base.append(
            PlanAction(
                id=f"disable-{request.host}",
                action_type=ActionType.CHANGE_NOVA_SERVICE_STATE,
                input_parameters={
                    "resource_name": request.host,
                    "state": ServiceState.DISABLED.value,
                    "disabled_reason": drain_disabled_reason(request.host),
                },
            )
        )
    if request.backup_host is not None:
        if request.backup_host == request.host:
            raise PreconditionFailed("backup host must differ from the drained host")
        backup = _service(services, request.backup_host, "backup host")
        if not backup.up or backup.forced_down:
            raise PreconditionFailed(f"backup host {backup.host!r}: its compute service is down")
        if not backup.enabled:
            base.append(
                PlanAction(
                    id=f"enable-{backup.host}",
                    action_type=ActionType.CHANGE_NOVA_SERVICE_STATE,
                    input_parameters={"resource_name": backup.host, "state": ServiceState.ENABLED.value},
                )
            )
    selection = _select_moves(request, items)
    if request.backup_host is not None:
        _keep_groups_off_backup(selection, groups, request.backup_host)
    if capacities is not None and not request.ignore_capacity:
        moving = {m.server.id for m in selection.moves}
        to_place = [s for s in items if s.server.id in moving]
        unplaced = unplaced_servers(to_place, capacities, groups)
        refuse_unplaced(unplaced, total=len(to_place), hosts=[c.host for c in capacities])
    parents = [a.id for a in base]
    actions = list(base)
    for move in selection.moves:
        actions += _migration_actions(request, move, parents)
    if not actions:
        raise PreconditionFailed(
            f"nothing to do on {request.host}: no server to move "
            f"({len(selection.left_behind)} left behind) and the host is not to be disabled"
        )
    exclusive = _exclusive_groups(selection.moves, groups)
    plan = _plan_input(request, actions, exclusive)
    return DrainPlan(host=request.host, plan=plan, left_behind=selection.left_behind, exclusive_groups=exclusive)


class DrainActivities:
    """The activity that builds a drain plan from live Nova state."""

    def __init__(self, nova: NovaGateway) -> None:
        self._nova = nova

    def all(self) -> list[Callable[..., object]]:
        """The activities to register on a worker."""
        return [self.build_drain_plan]

    @activity.defn(name=PlanActivity.BUILD_DRAIN_PLAN.value)
    async def build_drain_plan(self, request: DrainRequest) -> DrainPlan:
        """Read the host's servers, the compute services, server groups and placement; build the plan.

        Only reads: a refusal leaves Nova exactly as it was.

        Raises:
            PreconditionFailed: see :func:`build_drain_plan`.
        """
        services = await call_blocking(self._nova.compute_services)
        servers = await call_blocking(self._nova.drain_servers, request.host)
        groups = (
            await call_blocking(self._nova.anti_affinity_groups, {s.server.id: request.host for s in servers})
            if servers
            else []
        )
        capacities = None
        if not request.ignore_capacity:
            try:
                capacities = await call_blocking(self._nova.host_capacities, _capacity_hosts(request, services))
            except PreconditionFailed as err:
                raise PreconditionFailed(
                    f"{err.message}; or drain without the placement check (ignore_capacity, --ignore-capacity)"
                ) from None
        return build_drain_plan(request, servers, services, capacities=capacities, groups=groups)

"""``drain-hosts``: one plan that empties several hosts (a rack), with the checks held across the set.

:func:`build_drain_hosts_plan` is pure (testable without Nova). Each host's
servers are chosen as ``drain-host`` chooses them (per-server maintenance
policy, live/cold, left behind with a reason:
:func:`~watcher_temporal.activities.drain.build_drain_plan`), then the set is
made one plan:

* every host of the set is disabled first, and every migration waits for
  all of those disables, so the scheduler never places a server of the set
  on another host of the set;
* capacity: every moving server must fit on the enabled, up hosts outside
  the set (placement; first-fit decreasing, hard anti-affinity members on
  distinct hosts);
* anti-affinity: members of one (soft-)anti-affinity server group never
  migrate at the same time, across the whole set (``exclusive_groups``);
* the plan carries every moving server's flavor size (``server_sizes``), so
  it starts the longest migrations first and reports an ETA from the start.

:class:`DrainHostsActivities` reads Nova and placement (only reads: a
refusal leaves Nova as it was) and also serves ``plan.migration_sizes``,
which any plan started without ``server_sizes`` calls once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from temporalio import activity

from watcher_temporal.activities.blocking import call_blocking
from watcher_temporal.activities.drain import build_drain_plan
from watcher_temporal.activities.drain_capacity import refuse_unplaced, unplaced_servers
from watcher_temporal.activities.nova import ComputeService, DrainServer, HostCapacity, NovaGateway, ServerGroupFacts
from watcher_temporal.contract import (
    MAINTENANCE_DISABLED_REASON,
    DrainRequest,
    LeftBehind,
    MaintenancePlanInput,
    PlanAction,
    PlanActivity,
    ServerSize,
    validate_plan,
)
from watcher_temporal.contract.drain import MAX_DISABLED_REASON
from watcher_temporal.contract.drain_hosts import DrainHostsPlan, DrainHostsRequest
from watcher_temporal.contract.durations import SizesRequest, SizesResult
from watcher_temporal.contract.names import drain_hosts_workflow_id
from watcher_temporal.errors import PreconditionFailed


def server_size(server: DrainServer) -> ServerSize:
    """What a server's flavor says a migration moves (placement's MEMORY_MB and DISK_GB)."""
    return ServerSize(
        memory_mib=max(server.resources.get("MEMORY_MB", 0), 0), disk_gib=max(server.resources.get("DISK_GB", 0), 0)
    )


def drain_hosts_disabled_reason(hosts: Sequence[str]) -> str:
    """The ``disabled_reason`` of the set's services: Watcher's, plus this drain's workflow id."""
    return f"{MAINTENANCE_DISABLED_REASON} by {drain_hosts_workflow_id(list(hosts))}"[:MAX_DISABLED_REASON]


def outside_hosts(request: DrainHostsRequest, services: Sequence[ComputeService]) -> list[str]:
    """Where the servers may go: the enabled, up nova-compute hosts outside the set."""
    drained = set(request.hosts)
    return [s.host for s in services if s.host not in drained and s.enabled and s.up and not s.forced_down]


def _host_request(request: DrainHostsRequest, host: str) -> DrainRequest:
    """One host's share of the set, as ``drain-host`` would build it (capacity is checked for the set)."""
    return DrainRequest(
        host=host,
        disable_host=True,
        ignore_capacity=True,
        allow_live=request.allow_live,
        allow_cold=request.allow_cold,
        max_parallel=request.window(),
        max_parallel_per_source=request.max_parallel_per_source,
        max_parallel_per_destination=request.max_parallel_per_destination,
        on_failure=request.on_failure,
        poll_interval_seconds=request.poll_interval_seconds,
        timeout_seconds=request.timeout_seconds,
    )


def _check_hosts(request: DrainHostsRequest, services: Sequence[ComputeService]) -> None:
    known = {s.host for s in services}
    unknown = [h for h in request.hosts if h not in known]
    if unknown:
        listed = ", ".join(sorted(known)[:20]) or "none"
        raise PreconditionFailed(f"not a nova-compute host of this cloud: {', '.join(unknown)[:500]} (hosts: {listed})")


def _exclusive_groups(actions: Sequence[PlanAction], groups: Sequence[ServerGroupFacts]) -> dict[str, list[str]]:
    """Per group with two or more moving members anywhere in the set, their migrate action ids (plan order)."""
    migrating = [a.id for a in actions if a.id.startswith("migrate-")]
    exclusive = {}
    for group in groups:
        members = [a for a in migrating if a.removeprefix("migrate-") in group.member_hosts]
        if len(members) > 1:
            exclusive[f"server-group-{group.id}"] = members
    return exclusive


def build_drain_hosts_plan(
    request: DrainHostsRequest,
    servers: Mapping[str, Sequence[DrainServer]],
    services: Sequence[ComputeService],
    *,
    capacities: Sequence[HostCapacity] | None = None,
    groups: Sequence[ServerGroupFacts] = (),
) -> DrainHostsPlan:
    """The plan that empties every host of ``request.hosts`` (see the module docstring).

    Args:
        request: The hosts and the options.
        servers: Per drained host, the servers Nova places there.
        services: Every nova-compute service.
        capacities: Free resources of the hosts outside the set; None skips the check.
        groups: The anti-affinity server groups of the set's servers.

    Raises:
        PreconditionFailed: a host is unknown, no enabled host is left
            outside the set, or the servers do not fit there.
    """
    _check_hosts(request, services)
    destinations = outside_hosts(request, services)
    if not destinations:
        raise PreconditionFailed(
            f"no enabled, up compute host is left outside the {len(request.hosts)} hosts to drain; nothing was changed"
        )
    disables: list[PlanAction] = []
    moves: list[PlanAction] = []
    left_behind: list[LeftBehind] = []
    for host in request.hosts:
        built = build_drain_plan(_host_request(request, host), servers.get(host, ()), services)
        left_behind += built.left_behind
        for action in built.plan.actions:
            if action.id == f"disable-{host}":
                params = {**action.input_parameters, "disabled_reason": drain_hosts_disabled_reason(request.hosts)}
                disables.append(action.model_copy(update={"input_parameters": params}))
            else:
                moves.append(action)
    # Every host of the set is disabled before any server of the set moves.
    first = [a.id for a in disables]
    moves = [a.model_copy(update={"parents": first}) if _waits_only_on_disable(a) else a for a in moves]
    by_id = {s.server.id: s for host in request.hosts for s in servers.get(host, ())}
    moving = [by_id[a.id.removeprefix("migrate-")] for a in moves if a.id.startswith("migrate-")]
    if capacities is not None and not request.ignore_capacity:
        unplaced = unplaced_servers(moving, capacities, groups)
        refuse_unplaced(unplaced, total=len(moving), hosts=[c.host for c in capacities])
    exclusive = _exclusive_groups(moves, groups)
    plan = validate_plan(
        MaintenancePlanInput(
            actions=disables + moves,
            max_parallel=request.window(),
            max_parallel_per_host=request.max_parallel_per_host or request.window(),
            max_parallel_per_source=request.max_parallel_per_source,
            max_parallel_per_destination=request.max_parallel_per_destination,
            on_failure=request.on_failure,
            exclusive_groups=exclusive,
            server_sizes={s.server.id: server_size(s) for s in moving},
        )
    )
    return DrainHostsPlan(
        hosts=list(request.hosts),
        plan=plan,
        left_behind=left_behind,
        exclusive_groups=exclusive,
        destinations=destinations,
    )


def _waits_only_on_disable(action: PlanAction) -> bool:
    """Whether an action's only parent is its host's disable (a first step: a migration or a stop)."""
    return len(action.parents) == 1 and action.parents[0].startswith("disable-")


def sizes_of(wanted: Mapping[str, str], found: Mapping[str, Sequence[DrainServer]]) -> SizesResult:
    """The sizes of ``wanted`` servers (server → source host) among the servers found on those hosts."""
    sizes = {}
    for host, servers in found.items():
        for server in servers:
            if wanted.get(server.server.id) == host:
                sizes[server.server.id] = server_size(server)
    return SizesResult(sizes=sizes, missing=len(wanted) - len(sizes))


class DrainHostsActivities:
    """The activities of ``drain-hosts`` and of the plans' duration estimates."""

    def __init__(self, nova: NovaGateway) -> None:
        self._nova = nova

    def all(self) -> list[Callable[..., object]]:
        """The activities to register on a worker."""
        return [self.build_drain_hosts_plan, self.migration_sizes]

    @activity.defn(name=PlanActivity.BUILD_DRAIN_HOSTS_PLAN.value)
    async def build_drain_hosts_plan(self, request: DrainHostsRequest) -> DrainHostsPlan:
        """Read every host's servers, the services, server groups and placement; build the plan.

        Raises:
            PreconditionFailed: see :func:`build_drain_hosts_plan`.
        """
        services = await call_blocking(self._nova.compute_services)
        _check_hosts(request, services)
        servers = {}
        for host in request.hosts:
            activity.heartbeat(host)
            servers[host] = await call_blocking(self._nova.drain_servers, host)
        located = {s.server.id: host for host, found in servers.items() for s in found}
        groups = await call_blocking(self._nova.anti_affinity_groups, located) if located else []
        capacities = None
        if not request.ignore_capacity:
            capacities = await call_blocking(self._nova.host_capacities, outside_hosts(request, services))
        return build_drain_hosts_plan(request, servers, services, capacities=capacities, groups=groups)

    @activity.defn(name=PlanActivity.MIGRATION_SIZES.value)
    async def migration_sizes(self, request: SizesRequest) -> SizesResult:
        """The flavor sizes of a plan's migrated servers: one server list per source host."""
        found = {}
        for host in sorted(set(request.servers.values())):
            activity.heartbeat(host)
            found[host] = await call_blocking(self._nova.drain_servers, host)
        return sizes_of(request.servers, found)

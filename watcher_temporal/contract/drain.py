"""The vocabulary of ``drain-host``: empty a compute host, Watcher's host_maintenance made safe.

``DrainHost`` (workflow id ``drain-<host>``) reads live Nova in an activity,
builds a :class:`DrainPlan` (a ``MaintenancePlan`` input plus the servers it
leaves behind) and runs it, or only returns it for a dry run. Free of I/O,
importable by workflows, activities and the CLI.
"""

from __future__ import annotations

from pydantic import Field, field_validator

from watcher_temporal.contract.limits import DEFAULT_MAX_PARALLEL_PER_SOURCE, MAX_PARALLEL_LIMIT
from watcher_temporal.contract.message import Message
from watcher_temporal.contract.migrate import (
    MAX_POLL_INTERVAL_SECONDS,
    MAX_TIMEOUT_SECONDS,
    MIN_POLL_INTERVAL_SECONDS,
    HostName,
    Seconds,
)
from watcher_temporal.contract.names import drain_workflow_id
from watcher_temporal.contract.plan import (
    MAINTENANCE_DISABLED_REASON,
    MAX_PLAN_ACTIONS,
    MaintenancePlanInput,
    OnFailure,
    PlanStatus,
)

#: Longest ``disabled_reason`` Nova stores.
MAX_DISABLED_REASON = 255


def drain_disabled_reason(host: str) -> str:
    """The ``disabled_reason`` a drain of ``host`` sets: Watcher's, plus the drain's own workflow id.

    ``undrain-host`` re-enables the host only while its service still holds
    exactly this reason: a host that anyone else disabled since (a plan, an
    operator, Watcher's own ``watcher_maintaining``) stays disabled.
    """
    return f"{MAINTENANCE_DISABLED_REASON} by {drain_workflow_id(host)}"[:MAX_DISABLED_REASON]


#: Most servers ``drain-host --servers`` may name.
MAX_DRAIN_SERVERS = 1000


class DrainRequest(Message):
    """What ``drain-host`` asks for: Watcher's host_maintenance strategy, made safe.

    Attributes:
        host: The compute host to empty.
        backup_host: Where every server goes; enabled first if disabled.
            Absent: the Nova scheduler picks per server.
        servers: Drain only these servers of the host (UUIDs or exact names).
        limit: Move at most this many servers (in name order).
        disable_host: Disable the host's nova-compute service first (reason
            ``watcher_maintaining by drain-<host>``, see :func:`drain_disabled_reason`;
            not re-enabled afterwards, see ``undrain-host``). Absent: True
            for a full drain, False when ``servers`` or ``limit`` makes it a
            partial one.
        ignore_capacity: Drain even when the servers do not fit on the
            enabled hosts left (placement inventories and usages).
        allow_live: Live-migrate ACTIVE servers (else cold-migrate them).
        allow_cold: Cold-migrate servers that are not ACTIVE (SHUTOFF).
        max_parallel: The plan's global limit.
        max_parallel_per_host: The plan's per-host limit; every migration
            touches the drained host, so it defaults to ``max_parallel``.
        max_parallel_per_source: Outbound migrations of the drained host at
            once (default 1, Nova's ``max_concurrent_live_migrations``: every
            migration of a drain leaves that host; None: no limit).
        max_parallel_per_destination: Inbound migrations per destination host.
        on_failure: The plan's failure policy.
        poll_interval_seconds: Each migration's Nova poll interval (default
            MigrateServer's).
        timeout_seconds: Each migration's timeout (default MigrateServer's).
        dry_run: Build the plan and return it; change nothing.
    """

    host: HostName
    backup_host: HostName | None = None
    servers: list[str] | None = Field(default=None, min_length=1, max_length=MAX_DRAIN_SERVERS)
    limit: int | None = Field(default=None, ge=1, le=MAX_PLAN_ACTIONS)
    disable_host: bool | None = None
    ignore_capacity: bool = False
    allow_live: bool = True
    allow_cold: bool = True
    max_parallel: int = Field(default=4, ge=1, le=MAX_PARALLEL_LIMIT)
    max_parallel_per_host: int | None = Field(default=None, ge=1, le=MAX_PARALLEL_LIMIT)
    max_parallel_per_source: int | None = Field(default=DEFAULT_MAX_PARALLEL_PER_SOURCE, ge=1, le=MAX_PARALLEL_LIMIT)
    max_parallel_per_destination: int | None = Field(default=None, ge=1, le=MAX_PARALLEL_LIMIT)
    on_failure: OnFailure = OnFailure.STOP
    poll_interval_seconds: Seconds | None = Field(
        default=None, ge=MIN_POLL_INTERVAL_SECONDS, le=MAX_POLL_INTERVAL_SECONDS
    )
    timeout_seconds: Seconds | None = Field(default=None, ge=1, le=MAX_TIMEOUT_SECONDS)
    dry_run: bool = False

    @field_validator("servers")
    @classmethod
    def _server_names(cls, servers: list[str] | None) -> list[str] | None:
        if servers is not None and any(not s or len(s) > 255 for s in servers):
            raise ValueError("each server is a UUID or a name of 1 to 255 characters")
        return servers

    def partial(self) -> bool:
        """True when ``servers`` or ``limit`` restricts the drain to part of the host."""
        return self.servers is not None or self.limit is not None

    def disables_host(self) -> bool:
        """Whether the plan disables the host (``disable_host``, else full drain only)."""
        return not self.partial() if self.disable_host is None else self.disable_host


class LeftBehind(Message):
    """A server ``drain-host`` cannot move, and why."""

    resource_id: str
    resource_name: str | None = None
    status: str
    reason: str


class DrainPlan(Message):
    """A host-maintenance plan built from live Nova state.

    Attributes:
        host: The drained host.
        plan: The ``MaintenancePlan`` input.
        left_behind: Servers on the host the plan does not move.
        exclusive_groups: Per anti-affinity server group (``server-group-<uuid>``),
            the migrate actions of its members, which never run at the same time.
    """

    host: str
    plan: MaintenancePlanInput
    left_behind: list[LeftBehind] = Field(default_factory=list)
    exclusive_groups: dict[str, list[str]] = Field(default_factory=dict)


class DrainResult(Message):
    """Result of a ``DrainHost`` workflow.

    Attributes:
        host: The drained host.
        dry_run: True when the plan was only built.
        plan: The plan built from live Nova state.
        left_behind: Servers on the host the plan does not move.
        exclusive_groups: Migrate actions that never run at the same time.
        status: How the plan ran (absent for a dry run).
    """

    host: str
    dry_run: bool = False
    plan: MaintenancePlanInput
    left_behind: list[LeftBehind] = Field(default_factory=list)
    exclusive_groups: dict[str, list[str]] = Field(default_factory=dict)
    status: PlanStatus | None = None

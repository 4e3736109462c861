"""The vocabulary of ``DrainHosts``: several hosts (a rack) drained at once, as one set.

``drain-host`` empties one host. ``drain-hosts`` empties a set of hosts in
one plan, with the checks held across the whole set:

* every host of the set is disabled (``watcher_maintaining``) before any
  server moves, so the scheduler never sends a server of the set to another
  host of the set;
* the capacity check packs every server of the set onto the enabled hosts
  outside it;
* members of one anti-affinity server group never move at the same time,
  wherever in the set they are, and the packing keeps hard anti-affinity
  members on distinct hosts outside the set.

Pure models: workflow code imports them.
"""

from __future__ import annotations

from pydantic import Field, field_validator

from watcher_temporal.contract.drain import LeftBehind
from watcher_temporal.contract.limits import DEFAULT_MAX_PARALLEL_PER_SOURCE, MAX_PARALLEL_LIMIT
from watcher_temporal.contract.message import Message
from watcher_temporal.contract.migrate import (
    MAX_POLL_INTERVAL_SECONDS,
    MAX_TIMEOUT_SECONDS,
    MIN_POLL_INTERVAL_SECONDS,
    HostName,
    Seconds,
)
from watcher_temporal.contract.plan import MaintenancePlanInput, OnFailure, PlanStatus

#: Most hosts one ``drain-hosts`` may empty (a rack or two).
MAX_DRAIN_HOSTS = 64


class DrainHostsRequest(Message):
    """What ``drain-hosts`` asks for.

    Attributes:
        hosts: The compute hosts to empty (each once; at least one).
        ignore_capacity: Drain even when the servers do not fit on the
            enabled hosts outside the set.
        allow_live: Live-migrate ACTIVE servers (else cold-migrate them).
        allow_cold: Cold-migrate servers that are not ACTIVE (SHUTOFF).
        max_parallel: Migrations at once, all hosts together. Absent: one
            slot per source slot (hosts x ``max_parallel_per_source``, at most 1000).
        max_parallel_per_host: Migrations touching one host at once
            (default: ``max_parallel``).
        max_parallel_per_source: Outbound migrations per drained host at once
            (default 1, Nova's ``max_concurrent_live_migrations``; None: no limit).
        max_parallel_per_destination: Inbound migrations per named destination.
        on_failure: The plan's failure policy.
        poll_interval_seconds: Each migration's Nova poll interval.
        timeout_seconds: Each migration's timeout.
        dry_run: Build the plan and return it; change nothing.
    """

    hosts: list[HostName] = Field(min_length=1, max_length=MAX_DRAIN_HOSTS)
    ignore_capacity: bool = False
    allow_live: bool = True
    allow_cold: bool = True
    max_parallel: int | None = Field(default=None, ge=1, le=MAX_PARALLEL_LIMIT)
    max_parallel_per_host: int | None = Field(default=None, ge=1, le=MAX_PARALLEL_LIMIT)
    max_parallel_per_source: int | None = Field(default=DEFAULT_MAX_PARALLEL_PER_SOURCE, ge=1, le=MAX_PARALLEL_LIMIT)
    max_parallel_per_destination: int | None = Field(default=None, ge=1, le=MAX_PARALLEL_LIMIT)
    on_failure: OnFailure = OnFailure.STOP
    poll_interval_seconds: Seconds | None = Field(
        default=None, ge=MIN_POLL_INTERVAL_SECONDS, le=MAX_POLL_INTERVAL_SECONDS
    )
    timeout_seconds: Seconds | None = Field(default=None, ge=1, le=MAX_TIMEOUT_SECONDS)
    dry_run: bool = False

    @field_validator("hosts")
    @classmethod
    def _each_host_once(cls, hosts: list[str]) -> list[str]:
        twice = sorted({h for h in hosts if hosts.count(h) > 1})
        if twice:
            raise ValueError(f"each host at most once (given twice: {', '.join(twice)[:200]})")
        return hosts

    def window(self) -> int:
        """The plan's ``max_parallel``: as given, else one slot per source slot."""
        if self.max_parallel is not None:
            return self.max_parallel
        return min(len(self.hosts) * (self.max_parallel_per_source or 1), MAX_PARALLEL_LIMIT)


class DrainHostsPlan(Message):
    """A multi-host maintenance plan built from live Nova state.

    Attributes:
        hosts: The drained hosts.
        plan: The ``MaintenancePlan`` input (with ``server_sizes``).
        left_behind: Servers of the set the plan does not move.
        exclusive_groups: Per anti-affinity server group, the migrate actions
            of its members (across the set), which never run at the same time.
        destinations: The enabled hosts outside the set the capacity check packed onto.
    """

    hosts: list[str]
    plan: MaintenancePlanInput
    left_behind: list[LeftBehind] = Field(default_factory=list)
    exclusive_groups: dict[str, list[str]] = Field(default_factory=dict)
    destinations: list[str] = Field(default_factory=list)


class DrainHostsResult(DrainHostsPlan):
    """Result of a ``DrainHosts`` workflow: the plan, and how it ran (absent for a dry run)."""

    dry_run: bool = False
    status: PlanStatus | None = None

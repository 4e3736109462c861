"""The only door to Nova: a thin, blocking gateway over openstacksdk.

Activities call it from a thread (``asyncio.to_thread``) so the worker's event
loop keeps heartbeating. It returns small snapshots instead of openstacksdk
resources, so nothing that could carry a token leaves this module, and it
translates every openstacksdk / transport exception into the project's error
taxonomy (:mod:`watcher_temporal.errors`) in one place.

Credentials come only from the worker's environment: ``clouds.yaml`` with
``OS_CLOUD`` (or ``OS_*`` variables), read by openstacksdk itself.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ParamSpec, TypeVar

import keystoneauth1.exceptions as ks_exceptions
import openstack
import openstack.connection
import openstack.exceptions as os_exceptions
import requests
from openstack import utils as os_utils
from temporalio.common import MetricMeter

from watcher_temporal.contract import ServerSize, ServerSnapshot
from watcher_temporal.errors import (
    MigrationFailed,
    NovaAuthFailed,
    NovaBusy,
    NovaRefused,
    NovaUnavailable,
    PreconditionFailed,
)
from watcher_temporal.metrics import record_nova_request

logger = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

#: Nova task states of a migration that is still moving the server.
LIVE_TASK_STATES = frozenset({"migrating"})
COLD_TASK_STATES = frozenset(
    {"resize_prep", "resize_migrating", "resize_migrated", "resize_finish", "resize_reverting", "resize_confirming"}
)
#: os-migrations statuses after which Nova does nothing more.
FAILED_MIGRATION_STATUSES = frozenset({"error", "failed", "cancelled"})
DONE_MIGRATION_STATUSES = frozenset({"completed", "confirmed", "finished", "reverted", "done"})
FINAL_MIGRATION_STATUSES = FAILED_MIGRATION_STATUSES | DONE_MIGRATION_STATUSES
#: os-migrations ``migration_type`` per Watcher migration type.
NOVA_MIGRATION_TYPE = {"live": "live-migration", "cold": "migration"}


@dataclass(frozen=True, slots=True)
class MigrationRecord:
    """One Nova migration record (os-migrations or server migrations)."""

    id: str
    status: str
    migration_type: str | None
    source_compute: str | None
    dest_compute: str | None
    memory_total_bytes: int | None = None
    memory_processed_bytes: int | None = None
    memory_remaining_bytes: int | None = None
    server_id: str | None = None
    disk_total_bytes: int | None = None

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_MIGRATION_STATUSES

    @property
    def has_failed(self) -> bool:
        return self.status in FAILED_MIGRATION_STATUSES


@dataclass(frozen=True, slots=True)
class ComputeService:
    """A nova-compute service as the scheduler sees it."""

    host: str
    enabled: bool
    up: bool
    forced_down: bool
    disabled_reason: str | None


#: Server metadata key of a server's maintenance policy (``live``, ``cold``, ``stop-and-cold``, ``skip``).
MAINTENANCE_POLICY_KEY = "watcher-temporal:maintenance"
#: Placement resource classes a drain's capacity check counts.
CAPACITY_RESOURCES = ("VCPU", "MEMORY_MB", "DISK_GB")
#: Server group policies that keep members on distinct hosts.
ANTI_AFFINITY_POLICIES = frozenset({"anti-affinity", "soft-anti-affinity"})
#: Most members of one server group whose host a drain looks up.
MAX_GROUP_MEMBER_LOOKUPS = 200


@dataclass(frozen=True, slots=True)
class DrainServer:
    """A server on a drained host, with what the drain's checks need.

    Attributes:
        server: Where and in what state it is.
        resources: What its flavor claims in placement (``VCPU``,
            ``MEMORY_MB``, ``DISK_GB``; a boot-from-volume server's
            ``DISK_GB`` is over-counted by its flavor's root disk).
        maintenance: The value of its :data:`MAINTENANCE_POLICY_KEY` metadata.
    """

    server: ServerSnapshot
    resources: dict[str, int]
    maintenance: str | None = None


@dataclass(frozen=True, slots=True)
class HostCapacity:
    """What placement can still allocate on one compute host.

    Attributes:
        host: The compute host (its nova-compute service's host).
        free: Per resource class, ``(total - reserved) * allocation_ratio -
            used``; a class the host has no inventory of is absent.
    """

    host: str
    free: dict[str, float]


@dataclass(frozen=True, slots=True)
class ServerGroupFacts:
    """An (soft-)anti-affinity server group and where its members are.

    Attributes:
        id: The group's UUID.
        name: Its name.
        policy: ``anti-affinity`` or ``soft-anti-affinity``.
        member_hosts: Every member's compute host (None when unknown).
    """

    id: str
    name: str
    policy: str
    member_hosts: dict[str, str | None]


def _resources(flavor: Any) -> dict[str, int]:
    flavor = flavor or {}
    get = flavor.get if isinstance(flavor, dict) else lambda key, default=0: getattr(flavor, key, default)
    disk = int(get("disk", 0) or 0) + int(get("ephemeral", 0) or 0) + (int(get("swap", 0) or 0) + 1023) // 1024
    return {"VCPU": int(get("vcpus", 0) or 0), "MEMORY_MB": int(get("ram", 0) or 0), "DISK_GB": disk}


def _free(inventories: dict[str, Any], usages: dict[str, Any]) -> dict[str, float]:
    free = {}
    for rc in CAPACITY_RESOURCES:
        inv = inventories.get(rc)
        if inv:
            total = (inv["total"] - inv.get("reserved", 0)) * inv.get("allocation_ratio", 1.0)
            free[rc] = total - usages.get(rc, 0)
    return free


#: What to fix when Nova refuses the worker's credentials or configuration.
AUTH_HINT = (
    "check the worker's cloud: OS_CLOUD names an entry of clouds.yaml (OS_CLIENT_CONFIG_FILE) whose "
    "credentials are valid and have admin rights"
)


def _translate(action: str, err: Exception) -> Exception:
    """Map an openstacksdk/transport exception to the error taxonomy (the one table)."""
    if isinstance(err, os_exceptions.ServiceDisabledException):
        # Not a credential problem: a service (placement, in keystone mode) is missing from the catalog.
        return PreconditionFailed(
            f"{action}: the worker's cloud has no endpoint for this service ({_first_line(err)}); "
            "add it to the cloud's service catalog, or set <service>_endpoint_override in clouds.yaml"
        )
    if isinstance(err, os_exceptions.ConfigException):
        return NovaAuthFailed(f"{action}: the cloud configuration is unusable ({_first_line(err)}); {AUTH_HINT}")
    if isinstance(err, ks_exceptions.Unauthorized) or (
        isinstance(err, os_exceptions.HttpException) and err.status_code == 401
    ):
        return NovaAuthFailed(f"{action}: Nova refused the worker's credentials (401); {AUTH_HINT}")
    if isinstance(err, ks_exceptions.MissingRequiredOptions | ks_exceptions.AuthPluginException):
        return NovaAuthFailed(f"{action}: the cloud's auth settings are incomplete ({_first_line(err)}); {AUTH_HINT}")
    if isinstance(err, ks_exceptions.DiscoveryFailure | ks_exceptions.EndpointNotFound):
        # No version document or no compute endpoint: down, or a wrong URL in the cloud's configuration.
        return NovaUnavailable(
            f"{action}: cannot find the compute API ({_first_line(err)}); is Nova up? Otherwise {AUTH_HINT}"
        )
    if isinstance(err, os_exceptions.ConflictException):
        return NovaBusy(f"{action}: Nova is busy with this server (409): {_nova_message(err)}")
    if isinstance(err, os_exceptions.ForbiddenException):
        return PreconditionFailed(
            f"{action}: Nova refused the request (403); the worker's cloud needs admin rights: {_nova_message(err)}"
        )
    if isinstance(err, os_exceptions.BadRequestException):
        return NovaRefused(f"{action}: Nova rejected the request (400): {_nova_message(err)}")
    if isinstance(err, os_exceptions.HttpException):
        code = err.status_code or 0
        if code >= 500 or code in (0, 408, 429):
            return NovaUnavailable(f"{action}: Nova answered {code or 'no status'}: {_nova_message(err)}")
        return MigrationFailed(f"{action}: Nova answered {code}: {_nova_message(err)}")
    if isinstance(
        err,
        ks_exceptions.ConnectionError
        | ks_exceptions.RetriableConnectionFailure
        | requests.ConnectionError
        | requests.Timeout
        | ConnectionError,
    ):
        return NovaUnavailable(f"{action}: cannot reach Nova ({type(err).__name__})")
    if isinstance(err, ks_exceptions.http.HttpError) and (err.http_status or 0) >= 500:
        return NovaUnavailable(f"{action}: identity/compute answered {err.http_status}")
    return err


def _first_line(err: Exception) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0][:300]


def _nova_message(err: os_exceptions.HttpException) -> str:
    # details is Nova's own fault text; the full str() repeats the URL too.
    return str(err.details or err.message or "").strip()[:500]


#: Back-off between in-place retries of a read (seconds); len() is the count.
READ_RETRY_DELAYS = (0.2, 0.5, 1.0)


def nova_call(action: str, *, read: bool = False) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorate a gateway method so its exceptions speak the taxonomy.

    Args:
        action: What the method does, for error messages.
        read: The call only reads, so a transient failure (5xx, dropped
            connection) is retried in place a few times before it reaches
            the activity. Writes are never retried here: a write whose
            response was lost must be re-examined by the activity (which
            adopts what Nova already did), not blindly sent again.
    """

    def wrap(fn: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(fn)
        def inner(*args: P.args, **kwargs: P.kwargs) -> R:
            delays = iter(READ_RETRY_DELAYS if read else ())
            while True:
                try:
                    return fn(*args, **kwargs)
                except Exception as err:
                    translated = _translate(action, err)
                    if translated is err:
                        raise
                    delay = next(delays, None) if isinstance(translated, NovaUnavailable) else None
                    if delay is None:
                        raise translated from err
                    logger.debug("%s: %s; retrying in %.1fs", action, translated, delay)
                    time.sleep(delay)

        return inner

    return wrap


def _snapshot(server: Any) -> ServerSnapshot:
    return ServerSnapshot(
        id=server.id,
        name=server.name,
        status=server.status,
        host=server.compute_host,
        task_state=server.task_state,
        vm_state=server.vm_state,
    )


def _size(flavor: Any) -> ServerSize | None:
    """RAM and root + ephemeral disk of a server's embedded flavor, when Nova shows them."""
    if flavor is None or getattr(flavor, "ram", None) is None:
        return None
    disk = int(getattr(flavor, "disk", 0) or 0) + int(getattr(flavor, "ephemeral", 0) or 0)
    return ServerSize(memory_mib=int(flavor.ram), disk_gib=disk)


def _service(svc: Any) -> ComputeService:
    return ComputeService(
        host=svc.host,
        enabled=svc.status == "enabled",
        up=svc.state == "up",
        forced_down=bool(svc.is_forced_down),
        disabled_reason=svc.disabled_reason,
    )


def _record(migration: Any) -> MigrationRecord:
    return MigrationRecord(
        id=str(migration.id),
        status=str(migration.status or "").lower(),
        migration_type=getattr(migration, "migration_type", None),
        source_compute=migration.source_compute,
        dest_compute=migration.dest_compute,
        memory_total_bytes=getattr(migration, "memory_total_bytes", None),
        memory_processed_bytes=getattr(migration, "memory_processed_bytes", None),
        memory_remaining_bytes=getattr(migration, "memory_remaining_bytes", None),
        server_id=getattr(migration, "server_id", None),
        disk_total_bytes=getattr(migration, "disk_total_bytes", None),
    )


def _newest_first(records: Iterable[MigrationRecord]) -> list[MigrationRecord]:
    return sorted(records, key=lambda r: int(r.id), reverse=True)


def _nova_time(moment: datetime) -> str:
    """ISO 8601 in UTC, whole seconds, as Nova's ``changes-since`` takes it."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _size_http_pool(conn: openstack.connection.Connection, size: int) -> None:
    """Hold ``size`` connections per host (requests keeps 10), so every Nova thread reuses one."""
    if size <= 10:
        return
    from keystoneauth1.session import TCPKeepAliveAdapter

    http = conn.session.session  # keystoneauth wraps a requests.Session
    for scheme in ("https://", "http://"):
        http.mount(scheme, TCPKeepAliveAdapter(pool_connections=size, pool_maxsize=size))


def _count_requests(conn: openstack.connection.Connection, meter: MetricMeter) -> None:
    """Record every HTTP request of ``conn`` in ``watcher_nova_requests_total`` and its latency histogram."""
    http = conn.session.session  # keystoneauth wraps a requests.Session
    send = http.send

    def counted_send(request: Any, **kwargs: Any) -> Any:
        started = time.monotonic()
        code = "error"
        try:
            response = send(request, **kwargs)
            code = str(response.status_code)
            return response
        finally:
            record_nova_request(
                meter,
                method=request.method or "GET",
                url=request.url or "",
                code=code,
                seconds=time.monotonic() - started,
            )

    http.send = counted_send  # type: ignore[method-assign]


class NovaGateway:
    """Blocking Nova operations used by the migrate activities.

    Args:
        connect: Returns an openstacksdk connection. Defaults to
            ``openstack.connect()``, which reads ``OS_CLOUD`` / clouds.yaml /
            ``OS_*``. Called lazily, once, on first use.
        pool_size: HTTP connections kept per host (the worker passes its
            number of Nova threads).
    """

    def __init__(
        self, *, connect: Callable[[], openstack.connection.Connection] | None = None, pool_size: int = 10
    ) -> None:
        self._connect = connect or openstack.connect
        self._pool_size = pool_size
        self._conn: openstack.connection.Connection | None = None
        self._lock = threading.Lock()
        self._request_meter: MetricMeter | None = None

    def count_requests(self, meter: MetricMeter) -> None:
        """Record every HTTP request this gateway sends (the worker passes its runtime's meter)."""
        with self._lock:
            self._request_meter = meter
            if self._conn is not None:
                _count_requests(self._conn, meter)

    @property
    def conn(self) -> openstack.connection.Connection:
        with self._lock:
            if self._conn is None:
                conn = self._connect()
                _size_http_pool(conn, self._pool_size)
                if self._request_meter is not None:
                    _count_requests(conn, self._request_meter)
                self._conn = conn
            return self._conn

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    @nova_call("get server", read=True)
    def get_server(self, server_id: str) -> ServerSnapshot | None:
        try:
            return _snapshot(self.conn.compute.get_server(server_id))
        except os_exceptions.NotFoundException:
            return None

    @nova_call("list compute services", read=True)
    def compute_service(self, host: str) -> ComputeService | None:
        for svc in self.conn.compute.services(binary="nova-compute", host=host):
            if svc.host == host:
                return _service(svc)
        return None

    @nova_call("discover the compute API version", read=True)
    def supports_microversion(self, microversion: str) -> bool:
        return bool(os_utils.supports_microversion(self.conn.compute, microversion))

    @nova_call("discover the compute API version", read=True)
    def max_microversion(self) -> str | None:
        data = self.conn.compute.get_endpoint_data()
        return None if data is None or data.max_microversion is None else "{}.{}".format(*data.max_microversion)

    @nova_call("list migrations", read=True)
    def migrations_of(self, server_id: str) -> list[MigrationRecord]:
        """All migration records of a server, newest first (os-migrations)."""
        return _newest_first(_record(m) for m in self.conn.compute.migrations(server_id=server_id))

    @nova_call("list in-progress migrations", read=True)
    def in_progress_migrations(self, server_id: str) -> list[MigrationRecord]:
        """The server's in-progress live migrations with memory progress, newest first."""
        try:
            return _newest_first(_record(m) for m in self.conn.compute.server_migrations(server_id))
        except os_exceptions.NotFoundException:
            return []

    @nova_call("list migrations changed since", read=True)
    def migrations_changed_since(self, since: datetime) -> list[MigrationRecord]:
        """Every migration record of the cloud updated at or after ``since`` (``GET /os-migrations``).

        Needs microversion 2.59 (``changes-since``); openstacksdk asks for its
        newest and follows Nova's ``migrations_links`` pages.
        """
        return [_record(m) for m in self.conn.compute.migrations(changes_since=_nova_time(since))]

    @nova_call("list servers changed since", read=True)
    def servers_changed_since(self, since: datetime) -> list[tuple[str, ServerSnapshot | None]]:
        """Every server (all projects) updated at or after ``since``: ``(id, snapshot)``, None when deleted.

        ``GET /servers/detail?changes-since=...&all_tenants=1`` also returns
        servers deleted since then (status ``DELETED``); pages are followed.
        """
        servers = self.conn.compute.servers(details=True, all_projects=True, changes_since=_nova_time(since))
        return [(s.id, None if s.status == "DELETED" else _snapshot(s)) for s in servers]

    @nova_call("get server", read=True)
    def get_server_with_size(self, server_id: str) -> tuple[ServerSnapshot, ServerSize | None] | None:
        """The server and what its flavor says a live migration moves (one GET; flavor embedded from 2.47)."""
        try:
            server = self.conn.compute.get_server(server_id)
        except os_exceptions.NotFoundException:
            return None
        return _snapshot(server), _size(server.flavor)

    @nova_call("live-migrate server")
    def live_migrate(self, server_id: str, host: str | None, *, block_migration: bool | str = "auto") -> None:
        """Start a live migration; ``block_migration`` is ``"auto"`` (2.25+), True or False."""
        self.conn.compute.live_migrate_server(server_id, host=host, block_migration=block_migration)

    @nova_call("force-complete live migration")
    def force_complete_migration(self, server_id: str, migration_id: str) -> None:
        """Ask Nova to finish a running live migration now (2.22+; libvirt pauses the guest)."""
        self.conn.compute.force_complete_server_migration(migration_id, server_id)

    @nova_call("cold-migrate server")
    def cold_migrate(self, server_id: str, host: str | None) -> None:
        self.conn.compute.migrate_server(server_id, host=host)

    @nova_call("confirm resize")
    def confirm_resize(self, server_id: str) -> None:
        self.conn.compute.confirm_server_resize(server_id)

    @nova_call("revert resize")
    def revert_resize(self, server_id: str) -> None:
        self.conn.compute.revert_server_resize(server_id)

    @nova_call("abort live migration")
    def abort_migration(self, server_id: str, migration_id: str) -> None:
        self.conn.compute.abort_server_migration(migration_id, server_id, ignore_missing=True)

    # -- host maintenance (MaintenancePlan, drain-host) ---------------------

    @nova_call("list compute services", read=True)
    def compute_services(self) -> list[ComputeService]:
        """Every nova-compute service, sorted by host."""
        services = (_service(svc) for svc in self.conn.compute.services(binary="nova-compute"))
        return sorted(services, key=lambda s: s.host)

    @nova_call("change compute service state")
    def set_compute_service_state(self, host: str, *, enabled: bool, disabled_reason: str | None) -> None:
        """Enable or disable the nova-compute service of ``host``.

        Raises:
            PreconditionFailed: ``host`` has no nova-compute service.
        """
        matches = [s for s in self.conn.compute.services(binary="nova-compute", host=host) if s.host == host]
        if not matches:
            raise PreconditionFailed(f"{host!r} is not a nova-compute host of this cloud")
        if enabled:
            self.conn.compute.enable_service(matches[0], host=host, binary="nova-compute")
        else:
            self.conn.compute.disable_service(
                matches[0], host=host, binary="nova-compute", disabled_reason=disabled_reason
            )

    @nova_call("find servers by name", read=True)
    def find_servers_by_name(self, name: str, *, limit: int = 2) -> list[ServerSnapshot]:
        """Servers (all projects) named exactly ``name``, at most ``limit`` (2 tells one from many)."""
        pattern = "^" + re.escape(name) + "$"  # Nova filters names by regular expression
        servers = self.conn.compute.servers(details=True, all_projects=True, name=pattern)
        found: list[ServerSnapshot] = []
        for server in servers:
            if server.name == name:
                found.append(_snapshot(server))
                if len(found) >= limit:
                    break
        return found

    @nova_call("list servers on a host", read=True)
    def servers_on_host(self, host: str) -> list[ServerSnapshot]:
        """Every server (all projects) Nova places on ``host``, sorted by id."""
        servers = self.conn.compute.servers(details=True, all_projects=True, compute_host=host)
        return sorted((_snapshot(s) for s in servers if s.compute_host == host), key=lambda s: s.id)

    # -- drain checks (drain-host) ------------------------------------------

    @nova_call("list servers on a host", read=True)
    def drain_servers(self, host: str) -> list[DrainServer]:
        """Every server (all projects) on ``host`` with its flavor's resources and maintenance policy, by id."""
        servers = self.conn.compute.servers(details=True, all_projects=True, compute_host=host)
        found = [
            DrainServer(
                server=_snapshot(s),
                resources=_resources(s.flavor),
                maintenance=(s.metadata or {}).get(MAINTENANCE_POLICY_KEY),
            )
            for s in servers
            if s.compute_host == host
        ]
        return sorted(found, key=lambda d: d.server.id)

    @nova_call("read placement inventories and usages", read=True)
    def host_capacities(self, hosts: Iterable[str]) -> list[HostCapacity]:
        """Free VCPU / MEMORY_MB / DISK_GB of each of ``hosts`` (placement; hypervisor id = provider UUID).

        A host with no hypervisor record is absent from the answer.
        """
        wanted = set(hosts)
        providers: dict[str, str] = {}
        for hv in self.conn.compute.hypervisors(details=True):
            service = hv.service_details or {}
            if service.get("host") in wanted:
                providers[service["host"]] = str(hv.id)
        capacities = []
        for host, provider in sorted(providers.items()):
            inventories = self.conn.placement.get(f"/resource_providers/{provider}/inventories")
            usages = self.conn.placement.get(f"/resource_providers/{provider}/usages")
            for response in (inventories, usages):
                os_exceptions.raise_from_response(response)
            free = _free(inventories.json().get("inventories", {}), usages.json().get("usages", {}))
            capacities.append(HostCapacity(host=host, free=free))
        return capacities

    @nova_call("list server groups", read=True)
    def anti_affinity_groups(self, known_hosts: dict[str, str]) -> list[ServerGroupFacts]:
        """The (soft-)anti-affinity groups (all projects) holding any server of ``known_hosts``, members located.

        Args:
            known_hosts: Server id -> compute host of the servers already read.
                Other members are looked up one by one (at most
                :data:`MAX_GROUP_MEMBER_LOOKUPS` per group; the rest count
                as unknown hosts).
        """
        ids = set(known_hosts)
        groups = []
        for group in self.conn.compute.server_groups(all_projects=True):
            policy = group.policy or next(iter(group.policies or []), None)
            members = [str(m) for m in group.member_ids or []]
            if policy not in ANTI_AFFINITY_POLICIES or not ids.intersection(members):
                continue
            hosts: dict[str, str | None] = {}
            lookups = 0
            for member in members:
                if member in known_hosts:
                    hosts[member] = known_hosts[member]
                    continue
                lookups += 1
                snapshot = self.get_server(member) if lookups <= MAX_GROUP_MEMBER_LOOKUPS else None
                hosts[member] = snapshot.host if snapshot is not None else None
            groups.append(ServerGroupFacts(id=str(group.id), name=group.name or "", policy=policy, member_hosts=hosts))
        return sorted(groups, key=lambda g: g.id)

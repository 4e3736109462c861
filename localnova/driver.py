"""Fake virt driver with slow, observable, abortable migrations.

``nova.virt.fake.FakeDriver`` finishes a live migration instantly and
``FakeLiveMigrateDriver`` keeps one flag per *driver* (so two migrations from
the same host trample each other).  ``LocalNovaDriver`` keeps per-instance
state, takes the time configured in :mod:`localnova.knobs`, writes memory
progress on the migration record like the libvirt driver does, honours
abort / force-complete and fails on chosen destinations.

Nova loads it by class path: ``compute_driver=localnova.driver.LocalNovaDriver``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from nova import exception, objects
from nova.compute import power_state
from nova.virt import fake
from oslo_log import log as logging

from localnova import knobs

LOG = logging.getLogger(__name__)

#: Shortest time (seconds) between two progress writes of one migration.
PROGRESS_INTERVAL = 0.5
#: Cap on progress writes per second over all in-flight live migrations:
#: with 1,000 in flight each record is written every 25 s, not every 0.5 s
#: (each write is a cell database transaction in a single-core process).
MAX_PROGRESS_WRITES_PER_SECOND = 40.0
_MIB = 1024 * 1024
_GIB = 1024 * _MIB
#: Fraction of the memory copied when a stalled migration stops progressing.
STALL_FRACTION = 0.5


class _InFlight:
    """Count of live migrations copying memory, over every driver instance."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.count = 0

    def __enter__(self) -> _InFlight:
        with self._lock:
            self.count += 1
        return self

    def __exit__(self, *_exc: object) -> None:
        with self._lock:
            self.count -= 1

    def progress_interval(self) -> float:
        """Seconds between progress writes of one migration right now."""
        return max(PROGRESS_INTERVAL, self.count / MAX_PROGRESS_WRITES_PER_SECOND)


IN_FLIGHT = _InFlight()


class _LiveMigrationControl:
    """Flags an in-flight live migration reacts to."""

    def __init__(self) -> None:
        self.abort = threading.Event()
        self.force_complete = threading.Event()
        #: Set with either flag so the copy loop wakes up at once.
        self.wake = threading.Event()


class LocalNovaDriver(fake.FakeDriver):
    """FakeDriver whose migrations follow the localnova knobs."""

    def __init__(self, virtapi: Any, read_only: bool = False) -> None:
        super().__init__(virtapi, read_only)
        self._live_migrations: dict[str, _LiveMigrationControl] = {}

    # -- live migration -----------------------------------------------------

    def pre_live_migration(
        self,
        context: Any,
        instance: Any,
        block_device_info: Any,
        network_info: Any,
        disk_info: Any,
        migrate_data: Any,
    ) -> Any:
        """Hold the migration in ``preparing`` for ``live_migration_prepare_seconds``.

        Runs on the destination while Nova shows the migration as
        ``preparing``; an abort (microversion 2.65) sent meanwhile makes
        Nova cancel the migration when preparation ends, as with libvirt.
        """
        hold = knobs.STORE.get().live_migration_prepare_seconds
        if hold > 0:
            time.sleep(hold)
        return super().pre_live_migration(context, instance, block_device_info, network_info, disk_info, migrate_data)

    def live_migration(
        self,
        context: Any,
        instance: Any,
        dest: str,
        post_method: Callable[..., Any],
        recover_method: Callable[..., Any],
        block_migration: bool = False,
        migrate_data: Any = None,
    ) -> None:
        """Pretend to copy memory (and disk for a block migration).

        The copy takes ``live_migration_seconds``, or memory size divided by
        ``live_migration_mib_per_second`` when that is set.  Calls
        ``post_method`` on success and ``recover_method`` on abort
        (``cancelled``) or on a configured failing destination (``error``),
        which is what the libvirt driver does, so Nova's own bookkeeping
        (allocations, port bindings, instance host) stays correct.  A
        stalled migration stops at :data:`STALL_FRACTION` until it is
        forced to complete (the guest is paused and the copy finishes) or
        aborted.
        """
        current = knobs.STORE.get()
        memory_total = max(int(instance.flavor.memory_mb), 1) * _MIB
        disk_total = int(instance.flavor.root_gb) * _GIB if block_migration else 0
        if current.live_migration_mib_per_second > 0:
            duration = (memory_total + disk_total) / _MIB / current.live_migration_mib_per_second
        else:
            duration = current.live_migration_seconds
        fail = dest in current.live_migration_fail_hosts
        stall = dest in current.live_migration_stall_hosts or instance.uuid in current.live_migration_stall_servers
        # A failing migration dies half way, after showing some progress.
        run_for = duration / 2.0 if fail else duration
        migration = migrate_data.migration if migrate_data is not None and "migration" in migrate_data else None
        progress = _Progress(migration, memory_total, disk_total)

        control = _LiveMigrationControl()
        self._live_migrations[instance.uuid] = control
        forced = False
        try:
            with IN_FLIGHT:
                start = time.monotonic()
                next_write = 0.0
                while True:
                    elapsed = time.monotonic() - start
                    if control.abort.is_set():
                        LOG.info("live migration of %s to %s aborted", instance.uuid, dest)
                        recover_method(context, instance, dest, migrate_data, migration_status="cancelled")
                        return
                    if control.force_complete.is_set():
                        forced = True
                        self._pause_guest(instance)
                        break
                    fraction = elapsed / duration if duration > 0 else 1.0
                    if stall:
                        fraction = min(fraction, STALL_FRACTION)
                    elif elapsed >= run_for:
                        break
                    if elapsed >= next_write:
                        progress.write(fraction)
                        next_write = elapsed + IN_FLIGHT.progress_interval()
                    timeout = next_write - elapsed
                    if not stall:
                        timeout = min(timeout, run_for - elapsed)
                    # Wakes at once on abort / force-complete.
                    control.wake.wait(max(timeout, 0.0))

            if fail and not forced:
                LOG.warning("live migration of %s to %s fails (configured)", instance.uuid, dest)
                recover_method(context, instance, dest, migrate_data, migration_status="error")
                return
            if duration > 0 or stall or forced:
                progress.write(1.0)
            post_method(context, instance, dest, block_migration, migrate_data)
        finally:
            self._live_migrations.pop(instance.uuid, None)

    def _pause_guest(self, instance: Any) -> None:
        """Pause the source guest, as libvirt does on force-complete."""
        guest = self.instances.get(instance.uuid)
        if guest is not None:
            guest.state = power_state.PAUSED
        LOG.info("live migration of %s forced to complete: guest paused", instance.uuid)

    def live_migration_force_complete(self, instance: Any) -> None:
        """Finish the copy now (Nova has already checked it is running)."""
        control = self._live_migrations.get(instance.uuid)
        if control is not None:
            control.force_complete.set()
            control.wake.set()

    def live_migration_abort(self, instance: Any) -> None:
        """Abort the copy; ``live_migration`` then rolls back."""
        control = self._live_migrations.get(instance.uuid)
        if control is not None:
            control.abort.set()
            control.wake.set()

    def post_live_migration(
        self, context: Any, instance: Any, block_device_info: Any, migrate_data: Any = None
    ) -> None:
        """Forget the guest on the source, as FakeLiveMigrateDriver does."""
        self.destroy(context, instance, network_info=None, block_device_info=block_device_info)

    # -- cold migration / resize --------------------------------------------

    def migrate_disk_and_power_off(
        self,
        context: Any,
        instance: Any,
        dest: str,
        flavor: Any,
        network_info: Any,
        block_device_info: Any = None,
        timeout: int = 0,
        retry_interval: int = 0,
    ) -> Any:
        """Spend ``cold_migration_seconds`` copying disks, maybe fail.

        Failure raises ``InstanceFaultRollback`` so Nova puts the migration
        in ``error`` and the server back to ACTIVE on its source instead of
        ERROR.
        """
        current = knobs.STORE.get()
        # ``dest`` is the destination's IP (all computes share one here), so
        # look the destination *host name* up on the migration record.
        dest_host = dest
        try:
            migration = objects.Migration.get_by_instance_and_status(context, instance.uuid, "migrating")
            dest_host = migration.dest_compute
        except exception.MigrationNotFoundByStatus:
            pass
        duration = current.cold_migration_seconds
        if duration > 0:
            time.sleep(duration)
        if dest_host in current.cold_migration_fail_hosts:
            LOG.warning("cold migration of %s to %s fails (configured)", instance.uuid, dest_host)
            raise exception.InstanceFaultRollback(
                inner_exception=exception.ResizeError(
                    reason=f"localnova: cold migration to {dest_host} configured to fail"
                )
            )
        return super().migrate_disk_and_power_off(
            context, instance, dest, flavor, network_info, block_device_info, timeout, retry_interval
        )


class _Progress:
    """Writes memory (and disk) progress on the migration record.

    Like the libvirt driver, but every written number is at least 1 (Nova's
    response schema for in-progress migrations has ``minimum: 1``, and a 0
    logs an ERROR through response validation); disk numbers stay null
    unless this is a block migration.

    Args:
        migration: The Migration object (None: nothing is written).
        memory_total: Guest memory in bytes (the flavor's RAM).
        disk_total: Bytes of disk to copy (0 when not a block migration).
    """

    def __init__(self, migration: Any, memory_total: int, disk_total: int) -> None:
        self.migration = migration
        self.memory_total = memory_total
        self.disk_total = disk_total

    def write(self, fraction: float) -> None:
        """Record that ``fraction`` of everything has been copied."""
        if self.migration is None:
            return
        fraction = min(max(fraction, 0.0), 1.0)
        migration = self.migration
        try:
            processed = int(self.memory_total * fraction)
            migration.memory_total = self.memory_total
            migration.memory_processed = max(processed, 1)
            migration.memory_remaining = max(self.memory_total - processed, 1)
            if self.disk_total:
                disk_processed = int(self.disk_total * fraction)
                migration.disk_total = self.disk_total
                migration.disk_processed = max(disk_processed, 1)
                migration.disk_remaining = max(self.disk_total - disk_processed, 1)
            else:
                migration.disk_total = None
                migration.disk_processed = None
                migration.disk_remaining = None
            migration.save()
        except Exception:  # progress is cosmetic; never kill the migration
            LOG.debug("could not save migration progress", exc_info=True)

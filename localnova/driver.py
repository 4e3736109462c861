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
from nova.virt import fake
from oslo_log import log as logging

from localnova import knobs

LOG = logging.getLogger(__name__)

#: How often (seconds) progress is written to the migration record; bounded
#: so that 20 concurrent migrations do not hammer the sqlite cell database.
PROGRESS_INTERVAL = 0.5
#: Granularity of the wait loop, i.e. worst-case reaction time to an abort.
POLL_INTERVAL = 0.1
_MIB = 1024 * 1024


class _LiveMigrationControl:
    """Flags an in-flight live migration reacts to."""

    def __init__(self) -> None:
        self.abort = threading.Event()
        self.force_complete = threading.Event()


class LocalNovaDriver(fake.FakeDriver):
    """FakeDriver whose migrations follow the localnova knobs."""

    def __init__(self, virtapi: Any, read_only: bool = False) -> None:
        super().__init__(virtapi, read_only)
        self._live_migrations: dict[str, _LiveMigrationControl] = {}

    # -- live migration -----------------------------------------------------

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
        """Pretend to copy memory for ``live_migration_seconds``.

        Calls ``post_method`` on success and ``recover_method`` on abort
        (``cancelled``) or on a configured failing destination (``error``),
        which is what the libvirt driver does, so Nova's own bookkeeping
        (allocations, port bindings, instance host) stays correct.
        """
        current = knobs.STORE.get()
        duration = current.live_migration_seconds
        fail = dest in current.live_migration_fail_hosts
        # A failing migration dies half way, after showing some progress.
        run_for = duration / 2.0 if fail else duration
        migration = migrate_data.migration if migrate_data is not None and "migration" in migrate_data else None
        total = int(instance.flavor.memory_mb) * _MIB or 512 * _MIB

        control = _LiveMigrationControl()
        self._live_migrations[instance.uuid] = control
        try:
            start = time.monotonic()
            last_write = 0.0
            while True:
                elapsed = time.monotonic() - start
                if control.abort.is_set():
                    LOG.info("live migration of %s to %s aborted", instance.uuid, dest)
                    recover_method(context, instance, dest, migrate_data, migration_status="cancelled")
                    return
                if control.force_complete.is_set() or elapsed >= run_for:
                    break
                if migration is not None and (elapsed - last_write >= PROGRESS_INTERVAL or last_write == 0.0):
                    self._write_progress(migration, total, elapsed / duration)
                    last_write = max(elapsed, 1e-6)
                # Event.wait instead of sleep so an abort reacts at once.
                control.abort.wait(min(POLL_INTERVAL, run_for - elapsed))

            if fail:
                LOG.warning("live migration of %s to %s fails (configured)", instance.uuid, dest)
                recover_method(context, instance, dest, migrate_data, migration_status="error")
                return
            if migration is not None and duration > 0:
                self._write_progress(migration, total, 1.0)
            post_method(context, instance, dest, block_migration, migrate_data)
        finally:
            self._live_migrations.pop(instance.uuid, None)

    @staticmethod
    def _write_progress(migration: Any, total: int, fraction: float) -> None:
        """Record memory progress the way the libvirt driver does."""
        fraction = min(max(fraction, 0.0), 1.0)
        processed = int(total * fraction)
        try:
            migration.memory_total = total
            migration.memory_processed = processed
            migration.memory_remaining = total - processed
            migration.disk_total = 0
            migration.disk_processed = 0
            migration.disk_remaining = 0
            migration.save()
        except Exception:  # progress is cosmetic; never kill the migration
            LOG.debug("could not save migration progress", exc_info=True)

    def live_migration_force_complete(self, instance: Any) -> None:
        """Finish the copy now (Nova has already checked it is running)."""
        control = self._live_migrations.get(instance.uuid)
        if control is not None:
            control.force_complete.set()

    def live_migration_abort(self, instance: Any) -> None:
        """Abort the copy; ``live_migration`` then rolls back."""
        control = self._live_migrations.get(instance.uuid)
        if control is not None:
            control.abort.set()

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

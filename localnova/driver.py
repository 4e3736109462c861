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

import math
import threading
import time
from collections.abc import Callable
from typing import Any

from nova import exception, objects
from nova.compute import power_state
from nova.virt import fake
from oslo_log import log as logging

from localnova import knobs, links

LOG = logging.getLogger(__name__)

#: Shortest time (seconds) between two progress writes of one migration.
PROGRESS_INTERVAL = 0.5
#: Cap on progress writes per second over all in-flight live migrations:
#: with 1,000 in flight each record is written every 25 s, not every 0.5 s
#: (each write is a cell database transaction in a single-core process).
MAX_PROGRESS_WRITES_PER_SECOND = 40.0
_MIB = 1024 * 1024
_GIB = 1024 * _MIB
#: Bandwidth mode: seconds between two progress writes of one migration, as
#: Nova's libvirt driver (``[libvirt] live_migration_monitor_interval``, 5).
MONITOR_INTERVAL = 5.0
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
        #: Set with either flag (or by a re-plan of the links) so the copy
        #: loop wakes up at once.
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

        Bandwidth mode (knob ``link_mib_per_second`` > 0): the copy follows
        :mod:`localnova.links` (pre-copy rounds over shared host links).
        Simple mode: it takes ``live_migration_seconds``, or memory size
        divided by ``live_migration_mib_per_second`` when that is set.
        Calls ``post_method`` on success and ``recover_method`` on abort
        (``cancelled``) or on a configured failing destination (``error``),
        which is what the libvirt driver does, so Nova's own bookkeeping
        (allocations, port bindings, instance host) stays correct.  A
        stalled migration never converges until it is forced to complete
        (the guest is paused and the copy finishes) or aborted.
        """
        current = knobs.STORE.get()
        memory_total = max(int(instance.flavor.memory_mb), 1) * _MIB
        disk_total = int(instance.flavor.root_gb) * _GIB if block_migration else 0
        migration = migrate_data.migration if migrate_data is not None and "migration" in migrate_data else None
        copy = _LiveCopy(
            instance=instance,
            source=instance.host,
            dest=dest,
            progress=_Progress(migration, memory_total, disk_total),
            fail=dest in current.live_migration_fail_hosts,
            stall=dest in current.live_migration_stall_hosts or instance.uuid in current.live_migration_stall_servers,
        )
        self._live_migrations[instance.uuid] = copy.control
        try:
            with IN_FLIGHT:
                if current.link_mib_per_second > 0:
                    outcome = copy.run_modelled(current, memory_total, disk_total)
                else:
                    outcome = copy.run_fixed(current, memory_total, disk_total)
            if outcome == "aborted":
                LOG.info("live migration of %s to %s aborted", instance.uuid, dest)
                recover_method(context, instance, dest, migrate_data, migration_status="cancelled")
            elif outcome == "failed":
                LOG.warning("live migration of %s to %s fails (configured)", instance.uuid, dest)
                recover_method(context, instance, dest, migrate_data, migration_status="error")
            elif outcome == "timed out":
                LOG.warning(
                    "live migration of %s to %s did not converge: aborted at completion timeout", instance.uuid, dest
                )
                recover_method(context, instance, dest, migrate_data, migration_status="cancelled")
            else:
                if outcome == "forced":
                    self._pause_guest(instance)
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
        """Spend ``cold_migration_seconds`` (bandwidth mode: root + ephemeral disk
        over the shared links) copying disks, maybe fail.

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
        fail = dest_host in current.cold_migration_fail_hosts
        if current.link_mib_per_second > 0:
            _copy_cold_disk(instance, dest_host, fail, current)
        else:
            start, started_wall = time.monotonic(), time.time()
            if current.cold_migration_seconds > 0:
                time.sleep(current.cold_migration_seconds)
            links.record_fixed(
                {
                    "server": instance.uuid,
                    "kind": "cold",
                    "source": instance.host,
                    "dest": dest_host,
                    "outcome": "failed" if fail else "done",
                    "started_at": started_wall,
                    "ended_at": time.time(),
                    "seconds": round(time.monotonic() - start, 3),
                }
            )
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


def _copy_cold_disk(instance: Any, dest: str, fail: bool, current: knobs.Knobs) -> None:
    """Bandwidth mode: copy the flavor's root + ephemeral disk over the links (a failing one stops half way)."""
    capacity = current.link_mib_per_second * _MIB
    disk = (int(instance.flavor.root_gb) + int(instance.flavor.ephemeral_gb or 0)) * _GIB
    flow = links.Flow(
        server=instance.uuid, kind="cold", source=instance.host, dest=dest, memory_total=0, disk_total=disk, fail=fail
    )
    links.LINKS.start(flow, capacity)
    try:
        while True:
            assert flow.wake is not None
            flow.wake.clear()
            links.LINKS.refresh(flow)
            if flow.done:
                break
            # Sleep until the planned end; a re-plan of the links wakes us.
            flow.wake.wait(max(flow.eta - time.monotonic(), 0.0) if math.isfinite(flow.eta) else None)
    finally:
        links.LINKS.finish(flow, "failed" if fail else "done", capacity)


class _ProgressWriter:
    """Writes a modelled copy's progress every :data:`MONITOR_INTERVAL` s (Nova's), in its own green thread."""

    def __init__(self, progress: _Progress, flow: links.Flow) -> None:
        self.progress = progress
        self.flow = flow
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"progress-{flow.server}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop and wait for a write under way (the caller writes the last numbers itself)."""
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            links.LINKS.refresh(self.flow)
            self.progress.write_bytes(self.flow)
            self._stop.wait(max(MONITOR_INTERVAL, IN_FLIGHT.progress_interval()))


class _LiveCopy:
    """The copy phase of one live migration (simple or bandwidth mode).

    ``run_*`` return how it ended: ``"done"``, ``"forced"`` (force-complete
    paused the guest), ``"aborted"``, ``"failed"`` (configured failure) or
    ``"timed out"`` (bandwidth mode: no convergence before Nova's completion
    timeout).
    """

    def __init__(self, *, instance: Any, source: str, dest: str, progress: _Progress, fail: bool, stall: bool) -> None:
        self.instance = instance
        self.source = source
        self.dest = dest
        self.progress = progress
        self.fail = fail
        self.stall = stall
        self.control = _LiveMigrationControl()

    def run_fixed(self, current: knobs.Knobs, memory_total: int, disk_total: int) -> str:
        """Simple mode: a fixed duration (or size / ``live_migration_mib_per_second``)."""
        if current.live_migration_mib_per_second > 0:
            duration = (memory_total + disk_total) / _MIB / current.live_migration_mib_per_second
        else:
            duration = current.live_migration_seconds
        # A failing migration dies half way, after showing some progress.
        run_for = duration / 2.0 if self.fail else duration
        control = self.control
        start, started_wall = time.monotonic(), time.time()
        next_write = 0.0
        outcome = "done"
        while True:
            elapsed = time.monotonic() - start
            if control.abort.is_set():
                outcome = "aborted"
                break
            if control.force_complete.is_set():
                outcome = "forced"
                break
            fraction = elapsed / duration if duration > 0 else 1.0
            if self.stall:
                fraction = min(fraction, STALL_FRACTION)
            elif elapsed >= run_for:
                outcome = "failed" if self.fail else "done"
                break
            if elapsed >= next_write:
                self.progress.write(fraction)
                next_write = elapsed + IN_FLIGHT.progress_interval()
            timeout = next_write - elapsed
            if not self.stall:
                timeout = min(timeout, run_for - elapsed)
            # Wakes at once on abort / force-complete.
            control.wake.wait(max(timeout, 0.0))
        if outcome in ("done", "forced") and (duration > 0 or self.stall or outcome == "forced"):
            self.progress.write(1.0)
        links.record_fixed(self._record(outcome, start, started_wall, memory_total, disk_total))
        return outcome

    def run_modelled(self, current: knobs.Knobs, memory_total: int, disk_total: int) -> str:
        """Bandwidth mode: pre-copy rounds on the shared host links (see :mod:`localnova.links`)."""
        capacity = current.link_mib_per_second * _MIB
        flow = links.Flow(
            server=self.instance.uuid,
            kind="live",
            source=self.source,
            dest=self.dest,
            memory_total=memory_total,
            disk_total=disk_total,
            dirty_rate=current.dirty_mib_per_second * _MIB,
            downtime=current.live_migration_downtime_ms / 1000.0,
            stall=self.stall,
            fail=self.fail,
            wake=self.control.wake,
        )
        timeout = current.live_migration_completion_timeout * (memory_total + disk_total) / _GIB
        deadline = time.monotonic() + timeout if timeout > 0 and not self.stall else math.inf
        links.LINKS.start(flow, capacity)
        # Progress is written by its own green thread: a database write that
        # waits for the (serialised) database must not delay the copy's end.
        writer = _ProgressWriter(self.progress, flow)
        writer.start()
        outcome = "done"
        forced = False
        try:
            while True:
                self.control.wake.clear()
                now = time.monotonic()
                if self.control.abort.is_set():
                    outcome = "aborted"
                    break
                if self.control.force_complete.is_set() and not forced:
                    forced = True
                    links.LINKS.pause(flow)
                links.LINKS.refresh(flow)
                if flow.done:
                    outcome = "failed" if self.fail else ("forced" if forced else "done")
                    break
                if now >= deadline:
                    outcome = "timed out"
                    break
                # Sleep until the planned end (re-planned: woken) or the timeout.
                self.control.wake.wait(max(min(flow.eta, deadline) - now, 0.0))
        finally:
            links.LINKS.finish(flow, outcome, capacity)
            writer.stop()
        if outcome in ("done", "forced"):
            self.progress.write_bytes(flow)
        return outcome

    def _record(self, outcome: str, start: float, started_wall: float, memory: int, disk: int) -> dict[str, Any]:
        return {
            "server": self.instance.uuid,
            "kind": "live",
            "source": self.source,
            "dest": self.dest,
            "outcome": outcome,
            "started_at": started_wall,
            "ended_at": time.time(),
            "seconds": round(time.monotonic() - start, 3),
            "memory_total_bytes": memory,
            "disk_total_bytes": disk,
        }


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

    def write_bytes(self, flow: links.Flow) -> None:
        """Record a modelled copy's numbers as libvirt reports them.

        ``memory_processed`` counts every byte sent, re-sent dirty pages
        included, so after the first round it exceeds ``memory_total``, as
        with libvirt; ``memory_remaining`` is what is left of this round.
        """
        if self.migration is None:
            return
        migration = self.migration
        try:
            migration.memory_total = self.memory_total
            migration.memory_processed = max(int(flow.memory_processed), 1)
            migration.memory_remaining = max(flow.remaining_memory(), 1)
            if self.disk_total:
                migration.disk_total = self.disk_total
                migration.disk_processed = max(int(flow.disk_processed), 1)
                migration.disk_remaining = max(int(flow.disk_left), 1)
            else:
                migration.disk_total = migration.disk_processed = migration.disk_remaining = None
            migration.save()
        except Exception:  # progress is cosmetic; never kill the migration
            LOG.debug("could not save migration progress", exc_info=True)

"""Resize Nova's live-migration executor of a running localnova cloud.

Nova's compute manager sets a live migration ``queued`` and submits it to the
process-wide ``LIVE_MIGRATION`` executor of ``nova.thread_pool_factory``
(``max_concurrent_live_migrations`` workers); it stays queued while every
worker is busy, and an abort (microversion 2.65) then cancels its future.
All in-process compute services share that one executor, so its size is a
cloud-wide limit.

Nova creates the executor on first use and never resizes it.  A resize here
sets the config option (read if the executor does not exist yet) and swaps
in a new executor of the new size; the old one is shut down without waiting,
so the migrations it runs or queues finish there (they keep their futures,
which an abort can still cancel), and new ones go to the new executor.
"""

from __future__ import annotations

import threading

from nova import thread_pool_factory
from oslo_config import cfg

from localnova import knobs

#: Executors per compute host when the knob is 0 (today's sizing: nothing
#: queues even when every host migrates at once).
WORKERS_PER_HOST = 200

_LOCK = threading.Lock()


def live_migration_workers(value: int, hosts: int) -> int:
    """Executor size for a knob value: ``value``, or 200 per host when 0."""
    return value or WORKERS_PER_HOST * hosts


class LiveMigrationExecutorSizer:
    """Knob listener applying ``max_concurrent_live_migrations`` to Nova.

    Args:
        hosts: Number of compute hosts of the cloud (for the default size).
    """

    def __init__(self, hosts: int) -> None:
        self.hosts = hosts

    def __call__(self, current: knobs.Knobs) -> None:
        self.resize(live_migration_workers(current.max_concurrent_live_migrations, self.hosts))

    @staticmethod
    def resize(workers: int) -> None:
        """Make Nova's live-migration executor ``workers`` wide (no-op if it is)."""
        with _LOCK:
            cfg.CONF.set_override("max_concurrent_live_migrations", workers)
            factory = thread_pool_factory.FACTORY
            kind = thread_pool_factory.ExecutorType.LIVE_MIGRATION
            with factory._shutdown_lock:
                old = factory._all_executors.get(kind)
                if old is None or old._max_workers == workers or factory._shutdown:
                    return  # created with the option's value on first use
                factory._all_executors[kind] = factory._new_executor(workers, kind.value)
            old.shutdown(wait=False)

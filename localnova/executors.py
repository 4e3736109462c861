"""One live-migration executor per compute host, sized by ``max_concurrent_live_migrations``.

Nova's compute manager sets a live migration ``queued`` and submits it to the
``LIVE_MIGRATION`` executor of ``nova.thread_pool_factory``
(``max_concurrent_live_migrations`` workers); it stays queued while every
worker is busy, and an abort (microversion 2.65) then cancels its future.  In
a real cloud each nova-compute is its own process, so that limit applies per
compute host.  Here every compute service shares one process and Nova's
executor is a process-wide singleton, which would make the limit cloud-wide.

:func:`install` restores Nova's per-host meaning: while a compute manager
submits a live migration (``ComputeManager._start_recorded_task`` with the
``LIVE_MIGRATION`` type), ``thread_pool_factory.get_executor`` hands out
*that compute host's* executor instead of the singleton.  Nothing else of
Nova changes: the same futures, the same ``queued`` status, the same abort
path.

The knob's value is per host, as in Nova: ``1`` (Nova's default) runs one
live migration per source host at a time; ``0`` means unlimited (Nova's
eventlet mode then sizes the pool at 1,000).  A change at runtime swaps in
new executors of the new size; migrations already running or queued finish
in the old ones (they keep their futures, which an abort can still cancel),
new ones go to the new executors.
"""

from __future__ import annotations

import threading
from typing import Any

from nova import thread_pool_factory
from nova.compute import manager as compute_manager
from oslo_config import cfg

from localnova import knobs

#: Workers per host for the knob's 0 (Nova's eventlet-mode "unlimited").
UNLIMITED_WORKERS = 1000

_LIVE = thread_pool_factory.ExecutorType.LIVE_MIGRATION
_LOCK = threading.Lock()
#: Green-thread local (eventlet patches ``threading``): the compute host
#: submitting a live migration right now.
_SUBMITTING = threading.local()


def live_migration_workers(value: int) -> int:
    """Executor size per host for a knob value: ``value``, or 1,000 when 0."""
    return value or UNLIMITED_WORKERS


class PerHostLiveMigrationExecutors:
    """The live-migration executors of the in-process compute hosts."""

    def __init__(self) -> None:
        self.workers = 1
        self._executors: dict[str, Any] = {}

    def executor(self, host: str) -> Any:
        """``host``'s executor (created on first use, ``self.workers`` wide)."""
        with _LOCK:
            executor = self._executors.get(host)
            if executor is None:
                executor = thread_pool_factory.FACTORY._new_executor(self.workers, f"{_LIVE.value}.{host}")
                self._executors[host] = executor
            return executor

    def resize(self, workers: int) -> None:
        """Make every host's executor ``workers`` wide (new executors; no-op if they are)."""
        with _LOCK:
            if workers == self.workers:
                return
            self.workers = workers
            cfg.CONF.set_override("max_concurrent_live_migrations", workers)
            old, self._executors = self._executors, {}
        for executor in old.values():
            executor.shutdown(wait=False)

    def shutdown(self) -> None:
        """Stop every executor (the cloud is stopping)."""
        with _LOCK:
            old, self._executors = self._executors, {}
        for executor in old.values():
            executor.shutdown(wait=False)

    def __call__(self, current: knobs.Knobs) -> None:
        """Knob listener: apply ``max_concurrent_live_migrations``."""
        self.resize(live_migration_workers(current.max_concurrent_live_migrations))


#: The process-wide registry (all computes live in one process).
EXECUTORS = PerHostLiveMigrationExecutors()


def install() -> None:
    """Route each compute host's live migrations to its own executor (idempotent)."""
    if getattr(compute_manager.ComputeManager, "_localnova_per_host", False):
        return
    start_recorded_task = compute_manager.ComputeManager._start_recorded_task
    get_executor = thread_pool_factory.get_executor

    def _start_recorded_task(manager: Any, executor_type: Any, *args: Any, **kwargs: Any) -> Any:
        if executor_type is not _LIVE:
            return start_recorded_task(manager, executor_type, *args, **kwargs)
        _SUBMITTING.host = manager.host
        try:
            return start_recorded_task(manager, executor_type, *args, **kwargs)
        finally:
            _SUBMITTING.host = None

    def _get_executor(executor_type: Any) -> Any:
        host = getattr(_SUBMITTING, "host", None)
        if executor_type is _LIVE and host is not None:
            return EXECUTORS.executor(host)
        return get_executor(executor_type)

    compute_manager.ComputeManager._start_recorded_task = _start_recorded_task
    compute_manager.ComputeManager._localnova_per_host = True
    thread_pool_factory.get_executor = _get_executor

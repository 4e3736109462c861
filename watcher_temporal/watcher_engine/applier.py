"""``watcher-temporal-applier``: Watcher's ``watcher-applier`` whose start-up sync re-attaches.

The one line an operator changes: the service's command, ``watcher-applier``
→ ``watcher-temporal-applier`` (same arguments), with
``[watcher_applier] workflow_engine = temporal``. Everything else is
Watcher's own command; only ``watcher.applier.sync.Syncer`` (used at start-up
and by ``ApplierMonitor``) is replaced by
:class:`~watcher_temporal.watcher_engine.reattach.ReattachingSyncer`.

Nothing of Watcher is imported at module level: Watcher's command package must
come first (it applies eventlet patching when enabled and picks oslo.service's
backend before any other Watcher module loads).
"""

from __future__ import annotations

import importlib
import os


def _forget_inherited_db_connections() -> None:
    """In a forked child: a new DB pool; the parent's pooled connections are dropped, not closed.

    The service forks its monitor process while the re-attaching sync still
    writes from the parent. A child that used (pre-pinged) or closed an
    inherited connection would share the parent's socket: on PostgreSQL the
    parent's next statement then fails with "server closed the connection
    unexpectedly". ``dispose(close=False)`` is SQLAlchemy's recipe for fork.
    """
    from oslo_db.sqlalchemy import enginefacade

    enginefacade.writer.get_engine().dispose(close=False)


def main() -> None:
    """Run Watcher's applier service with the re-attaching sync."""
    os.register_at_fork(after_in_child=_forget_inherited_db_connections)
    # First, as watcher-applier does: eventlet patching (when enabled) and oslo.service's backend.
    importlib.import_module("watcher.cmd.eventlet")
    from watcher.applier import sync
    from watcher.cmd.eventlet import applier

    from watcher_temporal.watcher_engine.reattach import ReattachingSyncer

    sync.Syncer = ReattachingSyncer  # type: ignore[misc]
    applier.main()

"""One lock around every database transaction of the in-process cloud.

Nova's functional fixtures run the API, cell and placement databases as
in-memory sqlite.  oslo.db gives an in-memory sqlite engine a ``StaticPool``:
*one* DBAPI connection shared by every (green) thread.  Under eventlet, a
green thread that yields inside a transaction (a contended lock, logging,
a sleep) lets another green thread run statements -- and commit or roll
back -- on the same connection.  Under a few dozen concurrent migrations
this shows as placement's ``concurrent_update`` 409s after all its internal
retries, half-moved allocations (Nova's ``MigrationError: 'project_id'``
when a consumer suddenly has no allocations) and servers in ERROR.

Nova ships the same remedy for its threading mode
(``nova.tests.fixtures.DatabaseWriteLock``, writers only, one lock per
database).  A shared *connection* needs more: readers are serialised too
(the end of a read transaction rolls the shared connection back), and one
lock covers all databases so two green threads can never wait on each
other's database lock.  The lock is reentrant: a green thread may nest
transactions (independent ones included).  Everything runs on one OS
thread anyway, so the lock costs nothing but ordering.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import threading
import traceback
from collections.abc import Iterator
from typing import Any

import greenlet
from oslo_db.sqlalchemy import enginefacade

_installed = False
#: After this long waiting for the lock, log who holds it (and keep waiting).
WAIT_WARNING_SECONDS = 60.0
#: Nesting depth of transaction scopes in the current green thread.
_DEPTH: contextvars.ContextVar[int] = contextvars.ContextVar("localnova_dblock_depth")
LOG = logging.getLogger(__name__)


def _report_long_wait(holder: Any) -> None:
    """Log the stacks of the waiting and the holding green threads."""
    held_at = "".join(traceback.format_stack(holder.gr_frame)) if holder is not None and holder.gr_frame else "?"
    LOG.warning(
        "waited %.0f s for the database lock; waiting at:\n%sheld by %r at:\n%s",
        WAIT_WARNING_SECONDS,
        "".join(traceback.format_stack()),
        holder,
        held_at,
    )


def install() -> None:
    """Patch oslo.db so that every transaction scope holds one RLock.

    Idempotent.  Must run after eventlet monkey patching (so the lock is a
    green lock) and before the first transaction.
    """
    global _installed
    if _installed:
        return
    lock = threading.RLock()
    owner: list[Any] = [None]  # the green thread holding the lock
    original = enginefacade._TransactionContextManager._transaction_scope

    @contextlib.contextmanager
    def locked_scope(tcm_self: Any, context: Any) -> Iterator[Any]:
        while not lock.acquire(timeout=WAIT_WARNING_SECONDS):
            _report_long_wait(owner[0])
        try:
            if owner[0] is None:
                owner[0] = greenlet.getcurrent()
            depth = _DEPTH.get(0)
            token = _DEPTH.set(depth + 1)
            try:
                with original(tcm_self, context) as resource:
                    yield resource
            finally:
                _DEPTH.reset(token)
                if depth == 0:
                    owner[0] = None
        finally:
            lock.release()

    enginefacade._TransactionContextManager._transaction_scope = locked_scope  # type: ignore[assignment]
    _never_wait_for_the_cell_lock_inside_a_transaction(lock)
    _installed = True


def _never_wait_for_the_cell_lock_inside_a_transaction(lock: Any) -> None:
    """Break the one lock-order cycle with Nova's ``CellDatabases`` fixture.

    The fixture holds a reader-writer lock for the whole body of every
    ``target_cell`` block (whose transactions then take the database lock),
    and takes the same lock, as a reader, in ``get_context_manager`` -- which
    Nova calls again for every *nested* transaction, i.e. while holding the
    database lock.  With a writer queued (the next ``target_cell``), that
    reader waits, and the three green threads wait on each other forever
    (seen at 1,000 servers and once in 4 CI-sized runs: the cloud idles, every
    request hangs).  Inside a transaction the green thread cannot switch
    cells anyway, so it reads the fixture's current cell without the lock.
    Must run before the fixture is set up (it binds the method then).
    """
    from nova.tests import fixtures as nova_fixtures

    cells = nova_fixtures.CellDatabases
    original = cells._wrap_get_context_manager

    def get_context_manager(self: Any, context: Any) -> Any:
        if not lock._is_owned():
            return original(self, context)
        connection = getattr(context, "db_connection", None)
        return connection if connection else self._last_ctxt_mgr

    cells._wrap_get_context_manager = get_context_manager  # type: ignore[method-assign]

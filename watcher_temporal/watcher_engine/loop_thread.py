"""One asyncio loop in a daemon thread, for the Temporal client of a threaded caller.

Watcher's applier runs each action plan in a thread (native threads or
eventlet green threads); the Temporal client is asyncio. Each engine owns one
:class:`LoopThread` and hands it coroutines; the calling thread blocks on the
result, which is what Watcher's ``execute()`` contract asks for.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class LoopThread:
    """A private event loop running in its own daemon thread."""

    def __init__(self, *, name: str = "watcher-temporal-loop") -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=name, daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], *, timeout: float | None = None) -> T:
        """Run ``coro`` on the loop; block the caller until it returns (or raises)."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def close(self) -> None:
        """Stop the loop and join its thread."""
        if self._loop.is_closed():
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()

"""How late the worker's event loop runs its callbacks: the measure behind "heartbeats late".

Every activity heartbeat of this project is recorded from the worker's event
loop (the SDK encodes and hands it to its core there), so a loop that runs
its callbacks seconds late makes a live worker look dead: the server times the
activity out after its heartbeat timeout and retries it. :class:`LoopLagMonitor`
sleeps a short tick and measures how much later than asked it woke up. It
keeps the largest lag seen and logs a warning when the lag reaches
:data:`WARN_LAG_SECONDS` (at most once per :data:`WARN_EVERY_SECONDS`), so an
operator sees it in the log before the retries start.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time

logger = logging.getLogger(__name__)

#: Seconds between two measurements.
TICK_SECONDS = 0.25
#: A lag this long is logged: a quarter of the shortest heartbeat timeout.
WARN_LAG_SECONDS = 1.0
#: ... at most once in this many seconds.
WARN_EVERY_SECONDS = 60.0


class LoopLagMonitor:
    """Measures the running event loop's lag until :meth:`stop`.

    Attributes:
        max_lag: Largest lag seen, in seconds.
        lagged: Ticks whose lag reached :data:`WARN_LAG_SECONDS`.
    """

    def __init__(self, *, tick: float = TICK_SECONDS, warn_at: float = WARN_LAG_SECONDS) -> None:
        self._tick = tick
        self._warn_at = warn_at
        self._task: asyncio.Task[None] | None = None
        self._warned_at = -math.inf
        self.max_lag = 0.0
        self.lagged = 0

    def start(self) -> None:
        """Start measuring on the running loop."""
        self._task = asyncio.get_running_loop().create_task(self._run(), name="loop-lag")

    async def stop(self) -> None:
        """Stop measuring (worker shutdown)."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    def record(self, lag: float, *, now: float) -> None:
        """Account for one measured ``lag`` at monotonic time ``now``."""
        self.max_lag = max(self.max_lag, lag)
        if lag < self._warn_at:
            return
        self.lagged += 1
        if now - self._warned_at >= WARN_EVERY_SECONDS:
            self._warned_at = now
            logger.warning(
                "event loop ran %.1f s late (largest so far %.1f s): heartbeats and polls are delayed; "
                "the worker holds more than its CPU serves",
                lag,
                self.max_lag,
            )

    async def _run(self) -> None:
        while True:
            asked = time.monotonic()
            await asyncio.sleep(self._tick)
            now = time.monotonic()
            self.record(now - asked - self._tick, now=now)

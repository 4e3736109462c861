"""The worker's event-loop lag monitor: counts late wake-ups and logs them at most once a minute."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from watcher_temporal.loop_lag import WARN_EVERY_SECONDS, LoopLagMonitor


def test_late_wakeups_are_counted_and_logged_at_most_once_a_minute(caplog: pytest.LogCaptureFixture) -> None:
    monitor = LoopLagMonitor(warn_at=1.0)
    with caplog.at_level(logging.WARNING, logger="watcher_temporal.loop_lag"):
        monitor.record(0.2, now=0.0)
        monitor.record(2.5, now=1.0)
        monitor.record(1.5, now=2.0)
        monitor.record(3.0, now=1.0 + WARN_EVERY_SECONDS)
    assert (monitor.lagged, monitor.max_lag) == (3, 3.0)
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 2 and "2.5 s late" in warnings[0] and "3.0 s late" in warnings[1]


async def test_a_blocked_loop_is_measured() -> None:
    monitor = LoopLagMonitor(tick=0.01, warn_at=0.05)
    monitor.start()
    try:
        for _ in range(3):
            await monitor_tick()
        time.sleep(0.2)  # noqa: ASYNC251 - blocks the loop on purpose: the monitor must see it
        for _ in range(3):
            await monitor_tick()
    finally:
        await monitor.stop()
    assert monitor.max_lag >= 0.1 and monitor.lagged >= 1


async def monitor_tick() -> None:
    await asyncio.sleep(0.02)  # past the monitor's tick: it wakes and measures

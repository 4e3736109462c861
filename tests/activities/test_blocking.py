"""Activity pauses never look like a dead worker: they heartbeat, with the resume state."""

from __future__ import annotations

import pytest
from temporalio.testing import ActivityEnvironment

from watcher_temporal.activities import blocking


async def test_a_long_pause_heartbeats_its_details_all_along(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(blocking, "HEARTBEAT_EVERY", 0.05)
    beats: list[tuple[object, ...]] = []
    env = ActivityEnvironment()
    env.on_heartbeat = lambda *details: beats.append(details)
    # A pause of 8 beat intervals beats along the way (a plain sleep: none). The count
    # depends on the scheduler under load, so only "at least once" is asserted.
    await env.run(blocking.sleep_heartbeating, 0.4, details=("resume-state",))
    assert len(beats) >= 1
    assert set(beats) == {("resume-state",)}  # a heartbeat replaces the last: never without the state


async def test_no_pause_no_heartbeat() -> None:
    beats: list[tuple[object, ...]] = []
    env = ActivityEnvironment()
    env.on_heartbeat = lambda *details: beats.append(details)
    await env.run(blocking.sleep_heartbeating, 0.0)
    assert beats == []

"""The observer on a slow Nova: a slow per-server read never holds up the others' completion.

A narrow unit test: the gateway is a stand-in whose memory-progress read
blocks until the test releases it, so the order of events is exact.
"""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any, cast

from tests.conditions import until
from watcher_temporal.activities.nova import MigrationRecord, NovaGateway
from watcher_temporal.activities.observer import NovaObserver
from watcher_temporal.contract import ServerSnapshot

POLL = 0.2


def record(status: str, **memory: int) -> MigrationRecord:
    return MigrationRecord(
        id="7",
        status=status,
        migration_type="live-migration",
        source_compute="host1",
        dest_compute="host2",
        server_id="s1",
        **memory,
    )


class SlowProgressNova:
    """Answers the list calls at once; the memory-progress read waits for ``release``."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.progress_asked = threading.Event()
        self.finished = False
        self.completion_listed = False

    def supports_microversion(self, microversion: str) -> bool:
        return True

    def get_server(self, server_id: str) -> ServerSnapshot:
        return ServerSnapshot(id=server_id, status="ACTIVE", host="host1", task_state="migrating")

    def migrations_of(self, server_id: str) -> list[MigrationRecord]:
        return [record("running")]

    def in_progress_migrations(self, server_id: str) -> list[MigrationRecord]:
        self.progress_asked.set()
        self.release.wait(30)
        return [record("running", memory_total_bytes=100, memory_remaining_bytes=40)]  # read before the end

    def migrations_changed_since(self, since: datetime) -> list[MigrationRecord]:
        if not self.finished or self.completion_listed:
            return []
        self.completion_listed = True  # listed once, as a row that no longer changes
        return [record("completed")]

    def servers_changed_since(self, since: datetime) -> list[tuple[str, Any]]:
        if not self.finished:
            return []
        return [("s1", ServerSnapshot(id="s1", status="ACTIVE", host="host2"))]


async def test_completion_is_seen_while_a_progress_read_hangs_and_the_late_read_does_not_undo_it() -> None:
    nova = SlowProgressNova()
    observer = NovaObserver(cast(NovaGateway, nova))
    watch = observer.watch("s1", live=True, poll_interval=POLL)
    try:
        first = await observer.next(watch, timeout=10)
        assert first is not None and first.records[0].status == "running"
        await until(nova.progress_asked.is_set, timeout=10, what="the memory-progress read starts")
        nova.finished = True  # Nova finishes while the progress read hangs

        async def completed() -> bool:
            look = await observer.next(watch, timeout=10)
            return look is not None and look.records[0].status == "completed"

        await until(completed, timeout=10, what="the completion is published while the read still hangs")
        assert not nova.release.is_set()
        nova.release.set()
        ticks = observer.ticks
        await until(lambda: observer.ticks >= ticks + 3, timeout=10, what="the late read is merged")
        look = await observer.next(watch, timeout=10)
        assert look is not None and look.records[0].status == "completed"
        assert look.server is not None and look.server.host == "host2"
    finally:
        nova.release.set()
        await observer.close()

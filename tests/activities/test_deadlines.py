"""Which deadline of a live migration is due: pure arithmetic over the wait's request and report."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from watcher_temporal.activities.migrate import completion_limit, judge, soft_deadline_due, track_progress
from watcher_temporal.activities.nova import MigrationRecord
from watcher_temporal.activities.observer import Observation
from watcher_temporal.contract import (
    DeadlineKind,
    MigrateServerInput,
    MigrationProgressReport,
    ServerSize,
    ServerSnapshot,
    TrackedMigration,
)

START = datetime(2026, 1, 1, tzinfo=UTC)
TWO_GIB_TEN_DISK = ServerSize(memory_mib=2048, disk_gib=10)
SERVER = ServerSnapshot(id="0b5b6c5a-9b8e-4f0a-8f4e-6f1d2b3c4d5e", status="ACTIVE", host="c1")


def request(size: ServerSize | None = TWO_GIB_TEN_DISK, **keys: Any) -> TrackedMigration:
    params = MigrateServerInput.model_validate(
        {"resource_id": SERVER.id, "migration_type": "live", "source_node": "c1", "timeout_seconds": 900} | keys
    )
    return TrackedMigration(
        params=params,
        original=SERVER,
        deadline=START + timedelta(seconds=params.timeout_seconds),
        size=size,
    )


def at(seconds: float) -> datetime:
    return START + timedelta(seconds=seconds)


@pytest.mark.parametrize(
    ("block", "disk_reported", "expected"),
    [
        (False, None, 2 * 100),
        ("auto", None, 2 * 100),  # Nova chose no block migration (no disk progress)
        ("auto", 10 * 2**30, 12 * 100),  # Nova chose a block migration: the disk counts
        (True, None, 12 * 100),
    ],
)
def test_completion_budget_is_per_gib_of_ram_plus_disk_for_block_migrations(
    block: object, disk_reported: int | None, expected: float
) -> None:
    report = MigrationProgressReport(disk_total_bytes=disk_reported)
    assert completion_limit(request(completion_timeout_per_gib=100, block_migration=block), report) == expected


def test_completion_deadline_fires_only_when_shorter_than_timeout_seconds() -> None:
    report = MigrationProgressReport()
    short = request(completion_timeout_per_gib=100)  # 2 GiB -> 200 s < 900 s
    assert soft_deadline_due(short, report, at(199)) is None
    assert soft_deadline_due(short, report, at(200)) == (DeadlineKind.COMPLETION, 200)
    long = request(completion_timeout_per_gib=800)  # 1,600 s >= 900 s: timeout_seconds is the one that fires
    assert soft_deadline_due(long, report, at(899)) is None
    assert soft_deadline_due(request(size=None), report, at(899)) is None  # no size: only timeout_seconds


def test_progress_deadline_counts_from_the_last_decrease_of_memory_remaining() -> None:
    tracked = request(progress_timeout_seconds=30)
    report = track_progress(MigrationProgressReport(), at(5))
    assert report.progress_seen_at is None  # queued / preparing: no numbers, no clock
    report = track_progress(report.model_copy(update={"memory_remaining_bytes": 100}), at(10))
    report = track_progress(report.model_copy(update={"memory_remaining_bytes": 60}), at(20))
    report = track_progress(report.model_copy(update={"memory_remaining_bytes": 60}), at(45))
    report = track_progress(report.model_copy(update={"memory_remaining_bytes": 80}), at(49))  # dirtied again
    assert report.progress_seen_at == at(20) and report.least_remaining_bytes == 60
    assert soft_deadline_due(tracked, report, at(49)) is None
    assert soft_deadline_due(tracked, report, at(50)) == (DeadlineKind.PROGRESS, 30)


def test_after_a_force_complete_only_timeout_seconds_is_left() -> None:
    tracked = request(progress_timeout_seconds=30, completion_timeout_per_gib=1)
    report = MigrationProgressReport(progress_seen_at=at(0), force_completed_at=DeadlineKind.PROGRESS)
    assert soft_deadline_due(tracked, report, at(800)) is None


def test_the_wait_learns_a_block_migration_from_novas_disk_figures() -> None:
    tracked = request(completion_timeout_per_gib=100)  # block_migration "auto"
    moving = SERVER.model_copy(update={"status": "MIGRATING", "task_state": "migrating"})

    def record(disk: int | None) -> MigrationRecord:
        return MigrationRecord(
            id="7", status="running", migration_type="live-migration", source_compute="c1", dest_compute="c2",
            memory_total_bytes=2**31, memory_remaining_bytes=2**30, disk_total_bytes=disk,
        )  # fmt: skip

    _, report, _ = judge(tracked, MigrationProgressReport(), Observation(server=moving, records=(record(10 * 2**30),)))
    assert completion_limit(tracked, report) == 12 * 100
    _, report, _ = judge(tracked, report, Observation(server=moving, records=(record(None),)))  # an os-migrations row
    assert report.disk_total_bytes == 10 * 2**30 and completion_limit(tracked, report) == 12 * 100


@pytest.mark.parametrize(
    ("memory_mib", "disk_gib", "expected_gib"),
    [
        (512, 0, 2),  # Nova counts at least 2 GiB of RAM
        (512, 1, 4),  # and at least 2 GiB per local disk
        (8192, 0, 8),  # no local disk (volume-backed): nothing added
        (8192, 40, 48),
    ],
)
def test_completion_budget_counts_gib_as_novas_libvirt_driver_does(
    memory_mib: int, disk_gib: int, expected_gib: float
) -> None:
    size = ServerSize(memory_mib=memory_mib, disk_gib=disk_gib)
    tracked = request(size=size, completion_timeout_per_gib=800, block_migration=True)
    assert completion_limit(tracked, MigrationProgressReport()) == 800 * expected_gib

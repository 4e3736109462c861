"""When the waiting activity tells its workflow about progress (history costs events)."""

from __future__ import annotations

from watcher_temporal.activities.migrate import memory_copied, worth_telling
from watcher_temporal.contract import MigrationProgressReport


def report(status: str = "running", remaining: int | None = None, total: int | None = 1000) -> MigrationProgressReport:
    return MigrationProgressReport(
        nova_migration_status=status, memory_total_bytes=total, memory_remaining_bytes=remaining
    )


def test_memory_copied_is_a_fraction_or_unknown() -> None:
    assert memory_copied(report(remaining=250)) == 0.75
    assert memory_copied(report(remaining=None)) is None
    assert memory_copied(report(remaining=10, total=0)) is None


def test_a_new_nova_status_is_always_told() -> None:
    assert worth_telling(report("queued"), report("running"))


def test_memory_progress_is_told_each_time_a_tenth_is_crossed() -> None:
    assert not worth_telling(report(remaining=900), report(remaining=850))  # 10% → 15%: not yet
    assert worth_telling(report(remaining=900), report(remaining=800))  # 10% → 20%
    assert worth_telling(report(remaining=310), report(remaining=300))  # 69% → 70%
    assert not worth_telling(report(remaining=300), report(remaining=210))  # 70% → 79%
    assert worth_telling(report(remaining=None), report(remaining=990))  # first figure
    assert not worth_telling(report(remaining=500), report(remaining=None))  # nothing new

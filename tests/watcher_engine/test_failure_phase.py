"""Watcher's failure phase, read from the plan's reason (needs python-watcher: imports the writer)."""

from __future__ import annotations

import pytest

pytest.importorskip("watcher")

from watcher_temporal.watcher_engine.state_writer import failure_phase


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        ("execute: The target state is not defined", ("execute", "The target state is not defined")),
        ("post_condition: boom", ("post_condition", "boom")),
        (
            "MigrateServer failed: PreconditionFailed: host2 is disabled",
            ("pre_condition", "MigrateServer failed: PreconditionFailed: host2 is disabled"),
        ),
        ("live migration failed on host3", ("execute", "live migration failed on host3")),
    ],
)
def test_failure_phase(reason: str, expected: tuple[str, str]) -> None:
    assert failure_phase(reason) == expected

"""A very short run of benchmarks/chaos.py: kills and every Nova fault, counts only.

Its own localnova cloud, Temporal dev server (on a database file) and
``python worker.py`` processes, as the tool runs them. Asserts that every
server ends in its right state and that Nova never migrated one twice.
"""

from __future__ import annotations

import importlib.util
import sys

import pytest

from tests.realstack import REPO

pytestmark = pytest.mark.integration


def load_chaos():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("chaos", REPO / "benchmarks" / "chaos.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("chaos", module)  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


async def test_short_chaos_run_ends_every_migration_right_with_no_duplicate() -> None:
    chaos = load_chaos()
    args = chaos.parse_args(
        [
            *("--servers", "4", "--cases", "kill,5xx,drop,latency,fail-host,lost"),
            *("--kill-every", "2", "4", "--max-kills", "2", "--case-timeout", "240"),
        ]
    )
    rows = await chaos.run_chaos(args)
    assert [row.case for row in rows] == ["kill", "5xx", "drop", "latency", "fail-host", "lost"]
    assert [(row.case, row.correct) for row in rows] == [(row.case, 4) for row in rows]
    assert [(row.case, row.duplicates) for row in rows] == [(row.case, 0) for row in rows]
    [kill] = [row for row in rows if row.case == "kill"]
    assert "2 kills" in kill.notes  # the kills really happened during the plan

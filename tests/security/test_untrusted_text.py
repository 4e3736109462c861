"""Untrusted text never forges a log line nor reaches a terminal as an escape sequence."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from watcher_temporal.untrusted import one_line

REPO = Path(__file__).resolve().parents[2]
FORGED = "done\n2026-11-30 12:00:00,000 ERROR watcher_temporal.worker: rm -rf /\r\x1b[2J\x1b]0;pwned\x07"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("db-07", "db-07"),
        ("a\nb\rc\td", "a\\x0ab\\x0dc\\x09d"),
        ("\x1b[31mred\x1b[0m", "\\x1b[31mred\\x1b[0m"),
        ("c1\x9b2J \x85next", "c1\\x9b2J \\x85next"),  # C1 CSI and NEL
        ("evil\u202etxt.exe \u2066x\u2069", "evil\\u202etxt.exe \\u2066x\\u2069"),  # bidi override, isolate
        ("line\u2028sep\u2029par\x00nul\x7fdel", "line\\u2028sep\\u2029par\\x00nul\\x7fdel"),
        ("zero\u200bwidth", "zero\\u200bwidth"),
        ("héllo wörld ✓ 日本", "héllo wörld ✓ 日本"),  # printable non-ASCII stays readable
    ],
)
def test_one_line_escapes_controls_separators_and_bidi(text: str, expected: str) -> None:
    assert one_line(text) == expected
    assert one_line(one_line(text)) == one_line(text), "idempotent"


def test_one_line_bounds_length_and_takes_any_value() -> None:
    bounded = one_line("x" * 5000, limit=100)
    assert bounded == "x" * 100 + "…[+4900 chars]"
    assert one_line(ValueError("bad\nthing")) == "bad\\x0athing"
    assert one_line("\n" * 10, limit=3) == "\\x0a\\x0a\\x0a…[+7 chars]"


def test_nop_message_is_one_escaped_line_in_the_worker_log() -> None:
    """``worker.configure_logging`` + the real ``nop`` activity, in a fresh process like the worker."""
    script = textwrap.dedent(
        """
        import asyncio, json, sys
        from temporalio.testing import ActivityEnvironment
        from watcher_temporal.activities.service_state import ServiceStateActivities
        from watcher_temporal.contract import NopRequest
        from watcher_temporal.worker import configure_logging
        import logging

        configure_logging()
        request = NopRequest(action_id=json.loads(sys.argv[1]), message=json.loads(sys.argv[2]))
        asyncio.run(ActivityEnvironment().run(ServiceStateActivities(nova=None).nop, request))
        logging.getLogger("watcher_temporal.test").info("plain %s", json.loads(sys.argv[2]))
        """
    )
    run = subprocess.run(
        [sys.executable, "-c", script, json.dumps("act-\x1b[1m1\n"), json.dumps(FORGED)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    lines = run.stderr.splitlines()
    nop = [line for line in lines if " nop " in line]
    plain = [line for line in lines if " plain " in line]
    assert len(lines) == 2 and len(nop) == 1 and len(plain) == 1, lines
    for line in lines:
        assert "\x1b" not in line and "\r" not in line and "\x07" not in line
        assert line.endswith("\\x0d\\x1b[2J\\x1b]0;pwned\\x07")
    assert (
        nop[0].split(" INFO ", 1)[1].startswith("watcher_temporal.activities.service_state: nop act-\\x1b[1m1\\x0a: ")
    )
    assert "\\x0a2026-11-30 12:00:00,000 ERROR watcher_temporal.worker: rm -rf /" in nop[0]

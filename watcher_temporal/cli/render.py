"""Text for people: untrusted text made safe, lines fitted to the terminal, progress in words.

Shared by :mod:`watcher_temporal.cli.progress` and
:mod:`watcher_temporal.cli.report` (which sit above it and never import each
other's rendering). Everything here is pure: no Temporal, no I/O but the
terminal size.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import TextIO

from watcher_temporal.config import CliSettings
from watcher_temporal.contract import (
    FINAL_ACTION_STATES,
    MigrationProgress,
    PlanStatus,
    RevertResult,
)
from watcher_temporal.untrusted import one_line

#: Width assumed when the stream is not a terminal and ``COLUMNS`` is unset.
DEFAULT_WIDTH = 80
#: Narrowest width rendered; below it lines are cut anyway.
MIN_WIDTH = 20
#: Longest untrusted value shown in text output (names, Nova messages, reasons).
MAX_FIELD_CHARS = 300
ELLIPSIS = "…"


def safe(text: object, *, limit: int = MAX_FIELD_CHARS) -> str:
    """Untrusted ``text`` as one line: controls, ESC, C1 and bidi escaped, length bounded."""
    return one_line("" if text is None else text, limit=limit)


def terminal_width(stream: TextIO | None = None, *, cut: bool = True) -> int:
    """Columns of ``stream``'s terminal, else ``COLUMNS``, else :data:`DEFAULT_WIDTH`.

    Args:
        stream: Where the output goes.
        cut: False: output that does not go to a terminal (a pipe, a file)
            is not fitted to any width unless ``COLUMNS`` asks for one.
    """
    if stream is not None:
        try:
            if stream.isatty():
                return max(MIN_WIDTH, os.get_terminal_size(stream.fileno()).columns)
        except (OSError, ValueError, AttributeError):
            pass
    columns = CliSettings.from_env().columns
    if columns is not None:
        return max(MIN_WIDTH, columns)
    return DEFAULT_WIDTH if cut else sys.maxsize


def cut(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters, ending in ``…`` when cut."""
    if len(text) <= width:
        return text
    return text[: max(0, width - 1)] + ELLIPSIS


def wrap(text: str, width: int, *, indent: str = "") -> list[str]:
    """``text`` (one line, already safe) split into lines of at most ``width`` characters."""
    room = max(1, width - len(indent))
    lines: list[str] = []
    line = ""
    for word in text.split(" "):
        while len(word) > room:  # a word longer than a line: hard split
            if line:
                lines.append(line)
                line = ""
            lines.append(word[:room])
            word = word[room:]
        candidate = f"{line} {word}" if line else word
        if len(candidate) <= room:
            line = candidate
        else:
            lines.append(line)
            line = word
    if line or not lines:
        lines.append(line)
    return [indent + part for part in lines]


def table(
    header: Sequence[str], rows: Sequence[Sequence[str]], width: int, *, drop_order: Sequence[int] = ()
) -> list[str]:
    """Rows as aligned columns fitting ``width``.

    Columns in ``drop_order`` are dropped (in that order) while the table is
    too wide; then the widest column is cut with ``…`` until it fits.
    """
    keep = list(range(len(header)))
    cells = [[safe(c, limit=200) for c in row] for row in [header, *rows]]

    def widths() -> list[int]:
        return [max(len(r[i]) for r in cells) for i in keep]

    def total(ws: list[int]) -> int:
        return sum(ws) + 2 * (len(ws) - 1)

    for column in drop_order:
        if total(widths()) <= width or len(keep) <= 2:
            break
        keep.remove(column)
    ws = widths()
    while total(ws) > width and max(ws) > 4:
        ws[ws.index(max(ws))] -= 1
    return ["  ".join(cut(row[i], w).ljust(w) for i, w in zip(keep, ws, strict=True)).rstrip() for row in cells]


#: What each ``RevertAction`` did, in words (the value stays in ``-o json``).
REVERT_WORDS = {
    "nothing_to_do": "nothing to undo (Nova had not moved it)",
    "aborted": "Nova's migration was stopped before it finished (aborted)",
    "resize_reverted": "the cold migration was undone (resize reverted)",
    "migrated_back": "the server was migrated back",
}


def describe_revert(revert: RevertResult) -> str:
    """How the server was put back, and where it is now, in words."""
    text = REVERT_WORDS.get(revert.action.value, revert.action.value)
    server = revert.server
    if server is not None and server.host:
        text += f"; the server is on {safe(server.host)} ({safe(server.status, limit=40)})"
    return text


def human_bytes(n: float) -> str:
    """``n`` bytes as ``512 B``, ``1.5 MiB``..."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def human_seconds(seconds: float) -> str:
    """``seconds`` as ``45s``, ``2m05s``, ``1h02m``."""
    whole = max(round(seconds), 0)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


def plan_done(status: PlanStatus) -> tuple[int, int]:
    """``(actions done, actions)`` of a plan."""
    done = sum(1 for action in status.actions if action.state in FINAL_ACTION_STATES)
    return done, len(status.actions)


def fraction_done(progress: MigrationProgress | PlanStatus | None) -> float | None:
    """How far along (0..1) the progress says, when it says."""
    if isinstance(progress, PlanStatus):
        done, total = plan_done(progress)
        return done / total if total else None
    if isinstance(progress, MigrationProgress):
        memory, remaining = progress.memory_total_bytes, progress.memory_remaining_bytes
        if memory and remaining is not None:
            return max(0.0, min(1.0, 1 - remaining / memory))
        if progress.phase.value == "done":
            return 1.0
    return None


def describe_progress(progress: MigrationProgress | PlanStatus | None) -> str:
    """One line: phase, Nova status, memory left (migration) or counts (plan)."""
    if isinstance(progress, PlanStatus):
        done, total = plan_done(progress)
        parts = [progress.state.value, f"{done}/{total} actions done"]
        parts += [f"{k.lower()} {v}" for k, v in progress.counts.items() if v and k.upper() != "PENDING"]
        if progress.eta_seconds is not None and progress.state.value in ("ONGOING", "CANCELLING"):
            parts.append(f"eta {human_seconds(progress.eta_seconds)}")
        return "  ".join(parts)
    if isinstance(progress, MigrationProgress):
        parts = [f"phase {progress.phase.value}"]
        if progress.nova_migration_status:
            parts.append(f"nova {safe(progress.nova_migration_status, limit=40)}")
        if progress.memory_remaining_bytes is not None:
            parts.append(f"{human_bytes(progress.memory_remaining_bytes)} memory left")
        if progress.revert is not None:
            parts.append(f"put back: {describe_revert(progress.revert)}")
        if progress.error:
            parts.append(f"error: {safe(progress.error)}")
        return "  ".join(parts)
    return "waiting for the first progress report"

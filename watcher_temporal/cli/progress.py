"""Live progress while the CLI waits: a redrawn bar on a TTY, plain lines otherwise.

The migration's ``progress`` query gives the phase, Nova's migration status
and the memory left to copy (live migrations); a plan's ``status`` query gives
the action counts. Progress goes to stderr so stdout keeps only the result.
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any, TextIO

from temporalio.client import WorkflowHandle

from watcher_temporal.cli.exit_codes import ExitCode
from watcher_temporal.cli.report import PLAN_WORKFLOW, Report, print_report, query_progress, wait_for_outcome

BAR_WIDTH = 24


def _bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def fraction_done(workflow_type: str | None, progress: Any) -> float | None:
    """How far along (0..1) the progress says, when it says."""
    if not isinstance(progress, dict):
        return None
    if workflow_type == PLAN_WORKFLOW:
        counts = progress.get("counts") or {}
        total = sum(v for k, v in counts.items() if k != "reverted")
        done = sum(counts.get(k, 0) for k in ("SUCCEEDED", "FAILED", "SKIPPED", "CANCELLED"))
        return done / total if total else None
    total, remaining = progress.get("memory_total_bytes"), progress.get("memory_remaining_bytes")
    if total and remaining is not None:
        return max(0.0, min(1.0, 1 - remaining / total))
    if progress.get("phase") == "done":
        return 1.0
    return None


def describe_progress(workflow_type: str | None, progress: Any) -> str:
    """One line: phase, Nova status, memory left (migration) or counts (plan)."""
    if not isinstance(progress, dict):
        return "waiting for the first progress report"
    if workflow_type == PLAN_WORKFLOW:
        counts = progress.get("counts") or {}
        total = sum(v for k, v in counts.items() if k != "reverted")
        done = sum(counts.get(k, 0) for k in ("SUCCEEDED", "FAILED", "SKIPPED", "CANCELLED"))
        parts = [str(progress.get("state", "?")), f"{done}/{total} actions done"]
        parts += [f"{k.lower()} {v}" for k, v in counts.items() if v and k != "PENDING"]
        return "  ".join(parts)
    parts = [f"phase {progress.get('phase', '?')}"]
    if progress.get("nova_migration_status"):
        parts.append(f"nova {progress['nova_migration_status']}")
    if progress.get("memory_remaining_bytes") is not None:
        parts.append(f"{_bytes(progress['memory_remaining_bytes'])} memory left")
    if progress.get("error"):
        parts.append(f"error: {progress['error']}")
    return "  ".join(parts)


class ProgressDisplay:
    """Draws progress on ``stream``: a bar redrawn in place on a TTY, else a line per change.

    Args:
        stream: Where to draw (stderr by default).
        enabled: False draws nothing (``-o json``).
    """

    def __init__(self, workflow_id: str, stream: TextIO | None = None, *, enabled: bool = True) -> None:
        self.workflow_id = workflow_id
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = self.stream.isatty()
        self._last = ""
        self._drawn = False
        self._started = time.monotonic()

    def update(self, workflow_type: str | None, progress: Any) -> None:
        if not self.enabled:
            return
        text = describe_progress(workflow_type, progress)
        if self.tty:
            done = fraction_done(workflow_type, progress)
            bar = ""
            if done is not None:
                filled = round(done * BAR_WIDTH)
                bar = f"[{'#' * filled}{'-' * (BAR_WIDTH - filled)}] {done * 100:3.0f}%  "
            elapsed = time.monotonic() - self._started
            self.stream.write(f"\r\x1b[K{self.workflow_id}  {bar}{text}  {elapsed:.0f}s")
            self.stream.flush()
            self._drawn = True
        elif text != self._last:
            self.stream.write(f"{self.workflow_id}: {text}\n")
            self.stream.flush()
        self._last = text

    def close(self) -> None:
        if self.enabled and self.tty and self._drawn:
            self.stream.write("\n")
            self.stream.flush()


async def follow(
    handle: WorkflowHandle[Any, Any],
    report: Report,
    *,
    output: str,
    interval: float,
    stream: TextIO | None = None,
) -> Report:
    """Show progress until the workflow ends; return its final report."""
    display = ProgressDisplay(report.workflow_id, stream, enabled=output == "text")
    ending = asyncio.ensure_future(wait_for_outcome(handle, report))
    try:
        while not ending.done():
            progress = await query_progress(handle, report.workflow_type)
            if not ending.done():
                display.update(report.workflow_type, progress)
            await asyncio.wait({ending}, timeout=interval)
    finally:
        display.close()
        if not ending.done():
            ending.cancel()
    return ending.result()


async def finish(handle: WorkflowHandle[Any, Any], report: Report, args: Any, *, accepted: str, following: str) -> int:
    """End a command that started or cancelled a workflow; its exit code.

    Without ``--wait`` it acknowledges (``report`` as JSON, or ``accepted``);
    with it, it says ``following`` on stderr, follows the workflow to its end
    and prints the final report.
    """
    if not args.wait:
        if args.output == "json":
            print_report(report, "json")
        else:
            print(accepted)
        return ExitCode.SUCCESS
    if args.output == "text":
        print(following, file=sys.stderr)
    report = await follow(handle, report, output=args.output, interval=args.progress_interval)
    print_report(report, args.output)
    return report.exit_code

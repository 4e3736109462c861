"""Live progress while the CLI waits: a redrawn bar on a TTY, plain lines otherwise.

A migration's progress is its ``progress`` query merged with the wait
activity's heartbeat (phase, Nova's status, memory left); a plan's or a
drain's is its ``status`` query (action counts). Progress goes to stderr so
stdout keeps only the result, and every line fits the terminal.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import Any, TextIO

from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from watcher_temporal.cli.exit_codes import CommandError, ExitCode
from watcher_temporal.cli.render import cut, describe_progress, fraction_done, safe, terminal_width
from watcher_temporal.cli.report import Progress, Report, fail, print_report, query_progress, wait_for_outcome
from watcher_temporal.cli.session import wait_timeout
from watcher_temporal.cli.workers import check_worker
from watcher_temporal.contract import WORKFLOW_TASK_TIMEOUT, WorkflowType

#: Widest progress bar (narrower on narrow terminals).
BAR_WIDTH = 24


class ProgressDisplay:
    """Draws progress on ``stream``: a bar redrawn in place on a TTY, else a line per change.

    Args:
        workflow_id: Shown at the start of each line.
        stream: Where to draw (stderr by default).
        enabled: False draws nothing (``-o json``).
        width: Columns to fit (default: the stream's terminal).
    """

    def __init__(
        self, workflow_id: str, stream: TextIO | None = None, *, enabled: bool = True, width: int | None = None
    ) -> None:
        self.workflow_id = safe(workflow_id, limit=200)
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = self.stream.isatty()
        self.width = width or terminal_width(self.stream)
        self._last = ""
        self._drawn = False
        self._started = time.monotonic()

    def line(self, progress: Progress | None, elapsed: float) -> str:
        """The redrawn TTY line: id, bar, percent, words, seconds; at most ``width - 1`` columns."""
        text = describe_progress(progress)
        done = fraction_done(progress)
        room = self.width - 1
        tail = f"  {elapsed:.0f}s"
        bar_width = min(BAR_WIDTH, max(0, room // 4))
        bar = ""
        if done is not None:
            bar = f"{done * 100:3.0f}% "
            if bar_width >= 6:
                filled = round(done * bar_width)
                bar = f"[{'#' * filled}{'-' * (bar_width - filled)}] " + bar
        head = cut(self.workflow_id, max(8, room // 3))
        return cut(f"{head} {bar}{text}", max(1, room - len(tail))) + tail

    def update(self, progress: Progress | None) -> None:
        """Show ``progress`` (redraw on a TTY; a new line only when it changed otherwise)."""
        if not self.enabled:
            return
        text = describe_progress(progress)
        if self.tty:
            self.stream.write("\r\x1b[K" + self.line(progress, time.monotonic() - self._started))
            self.stream.flush()
            self._drawn = True
        elif text != self._last:
            self.stream.write(cut(f"{self.workflow_id}: {text}", self.width - 1) + "\n")
            self.stream.flush()
        self._last = text

    def close(self) -> None:
        if self.enabled and self.tty and self._drawn:
            self.stream.write("\n")
            self.stream.flush()


async def follow(
    client: Client,
    handle: WorkflowHandle[Any, Any],
    report: Report,
    *,
    output: str,
    interval: float,
    timeout: float,
    stream: TextIO | None = None,
) -> Report:
    """Show progress until the workflow ends; return its final report.

    Raises:
        CommandError: ``WAIT_TIMEOUT`` when ``timeout`` seconds pass first
            (the workflow goes on).
    """
    display = ProgressDisplay(report.workflow_id, stream, enabled=output == "text")
    ending = asyncio.ensure_future(wait_for_outcome(client, handle, report))
    deadline = time.monotonic() + timeout
    try:
        while not ending.done():
            if time.monotonic() >= deadline:
                raise CommandError(
                    ExitCode.WAIT_TIMEOUT,
                    "WaitTimeout",
                    f"{safe(report.workflow_id)} still runs after --wait-timeout {timeout:g}s; "
                    f"it goes on (watcher-temporal status {safe(report.workflow_id)})",
                )
            progress = await query_progress(client, handle, report.workflow_type)
            if not ending.done():
                display.update(progress)
            await asyncio.wait({ending}, timeout=min(interval, max(0.01, deadline - time.monotonic())))
    finally:
        display.close()
        if not ending.done():
            ending.cancel()
    return ending.result()


async def finish(
    client: Client,
    handle: WorkflowHandle[Any, Any],
    report: Report,
    args: Any,
    *,
    task_queue: str,
    accepted: str,
    following: str,
    checked: bool = False,
) -> int:
    """End a command that started or cancelled a workflow; its exit code.

    Without ``--wait`` it acknowledges (``report`` as JSON, or ``accepted``)
    and warns when no worker polls the queue; with it, it says ``following``
    on stderr, fails fast (``NO_WORKER``) when no worker appears, follows
    the workflow to its end and prints the final report.
    """
    if not checked:
        await check_worker(client, task_queue, required=args.wait, wait_seconds=args.worker_wait)
    if not args.wait:
        if args.output == "json":
            print_report(report, "json")
        else:
            print(accepted)
        return ExitCode.SUCCESS
    if args.output == "text":
        print(following, file=sys.stderr)
    report = await follow_as_asked(client, handle, report, args)
    print_report(report, args.output)
    return report.exit_code


async def follow_as_asked(client: Any, handle: Any, report: Report, args: argparse.Namespace) -> Report:
    """:func:`follow` with the command line's output, progress interval and ``--wait-timeout``."""
    return await follow(
        client,
        handle,
        report,
        output=args.output,
        interval=args.progress_interval,
        timeout=wait_timeout(args, report.workflow_type),
    )


async def start_and_finish(
    client: Client,
    args: argparse.Namespace,
    *,
    workflow_type: WorkflowType,
    request: Any,
    workflow_id: str,
    result_type: type,
    task_queue: str,
    summary: str,
    what: str,
) -> int:
    """Start a host workflow (``drain-<host>``, ``undrain-<host>``) under its one id, then :func:`finish` it.

    Args:
        what: What the workflow does, for the follow line ("the drain").

    Returns:
        The exit code: ``ALREADY_RUNNING`` when the id is taken by a running workflow.
    """
    try:
        handle = await client.start_workflow(
            workflow_type.value,
            request,
            id=workflow_id,
            task_queue=task_queue,
            task_timeout=WORKFLOW_TASK_TIMEOUT,
            result_type=result_type,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
            static_summary=summary,
        )
    except WorkflowAlreadyStartedError:
        return fail(
            args,
            ExitCode.ALREADY_RUNNING,
            "AlreadyRunning",
            f"{safe(workflow_id)} is already running; follow it with `watcher-temporal status {safe(workflow_id)}`",
        )
    report = Report(
        workflow_id=workflow_id, run_id=handle.result_run_id, workflow_type=workflow_type, task_queue=task_queue
    )
    return await finish(
        client,
        handle,
        report,
        args,
        task_queue=task_queue,
        checked=True,
        accepted=f"started {safe(workflow_id)}\n  follow it: watcher-temporal status {safe(workflow_id)} --wait",
        following=f"started {safe(workflow_id)}; following (Ctrl-C stops following, not {what})",
    )

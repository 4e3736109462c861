"""What a workflow is doing or how it ended, as the CLI prints and exits on it."""

from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TextIO

from pydantic import BaseModel, ValidationError
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import ApplicationError, CancelledError, TerminatedError, TimeoutError
from temporalio.service import RPCError, RPCStatusCode

from watcher_temporal.cli.exit_codes import ExitCode, UsageError
from watcher_temporal.cli.render import REVERT_WORDS, describe_progress, human_seconds, safe, terminal_width, wrap
from watcher_temporal.contract import (
    PROGRESS_QUERIES,
    DrainResult,
    MigrationProgress,
    MigrationResult,
    MigrationStatus,
    Phase,
    PlanStatus,
    UndrainResult,
    WorkflowType,
)
from watcher_temporal.contract.drain_hosts import DrainHostsResult
from watcher_temporal.progress import latest_report, migration_progress
from watcher_temporal.search_attributes import OUTCOME, keyword_values

QUERY_TIMEOUT = timedelta(seconds=5)

#: Exit code of an outcome (MigrationResult status, plan state, WatcherOutcome).
OUTCOME_EXIT_CODES = {
    "SUCCEEDED": ExitCode.SUCCESS,
    "COMPLETED": ExitCode.SUCCESS,
    "DRY_RUN": ExitCode.SUCCESS,
    "SKIPPED": ExitCode.SKIPPED,
    "REVERTED": ExitCode.REVERTED,
    "FAILED": ExitCode.FAILED,
    "CANCELLED": ExitCode.CANCELLED,
    "TERMINATED": ExitCode.FAILED,
    "TIMED_OUT": ExitCode.FAILED,
}

Progress = MigrationProgress | PlanStatus
Result = MigrationResult | PlanStatus | DrainResult | UndrainResult | DrainHostsResult


@dataclass
class Report:
    """One workflow, as ``status``/``--wait`` report it (the ``-o json`` document).

    Attributes:
        workflow_id: The workflow id.
        run_id: The run reported on.
        workflow_type: ``MigrateServer``, ``MaintenancePlan``, ``DrainHost``...
        status: Temporal's execution status (``RUNNING``, ``COMPLETED``...).
        outcome: ``RUNNING``, or the ending: ``SUCCEEDED``, ``SKIPPED``,
            ``REVERTED``, ``FAILED``, ``CANCELLED`` (as ``WatcherOutcome``
            says), ``TERMINATED``, ``TIMED_OUT``, ``DRY_RUN``.
        exit_code: The CLI's exit code for it.
        result: The workflow's result when it completed.
        error: ``{type, message}`` when it failed.
        progress: Its last progress (query merged with the wait's heartbeat).
        search_attributes: The project's search attributes that are set.
        task_queue: The workflow's own task queue (where a worker must poll
            for it to move); '' when unknown.
    """

    workflow_id: str
    run_id: str | None = None
    workflow_type: str | None = None
    status: str = "RUNNING"
    outcome: str = "RUNNING"
    exit_code: int = ExitCode.SUCCESS
    result: Result | None = None
    error: dict[str, str] | None = None
    progress: Progress | None = None
    search_attributes: dict[str, str] = field(default_factory=dict)
    task_queue: str = ""

    def as_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = dict(self.__dict__)
        for key in ("result", "progress"):
            value = doc[key]
            doc[key] = value.model_dump(mode="json") if isinstance(value, BaseModel) else value
        doc["eta_seconds"] = self.eta_seconds()
        return doc

    def eta_seconds(self) -> float | None:
        """A running plan's expected seconds left (its ``status`` query); 0 once it ended; None for others."""
        if isinstance(self.progress, PlanStatus) and self.status == "RUNNING":
            return self.progress.eta_seconds
        if isinstance(self.result, PlanStatus) or isinstance(getattr(self.result, "status", None), PlanStatus):
            return 0.0
        return None


async def describe(client: Client, handle: WorkflowHandle[Any, Any], *, ask_workflow: bool = True) -> Report:
    """Where a workflow is now (no waiting); its progress if it runs.

    ``ask_workflow=False``: no worker answers queries, read heartbeats only.

    Raises:
        UsageError: no workflow has that id.
    """
    try:
        desc = await handle.describe()
    except RPCError as err:
        if err.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.INVALID_ARGUMENT):
            raise UsageError(f"no workflow {safe(handle.id, limit=200)!s} in this namespace") from None
        raise
    report = Report(
        workflow_id=desc.id,
        run_id=desc.run_id,
        workflow_type=desc.workflow_type,
        status=desc.status.name if desc.status else "UNKNOWN",
        search_attributes=keyword_values(desc.typed_search_attributes),
        task_queue=desc.task_queue,
    )
    if desc.status == WorkflowExecutionStatus.RUNNING:
        report.progress = await query_progress(client, handle, desc.workflow_type, ask_workflow=ask_workflow)
    return report


async def current_report(client: Client, handle: WorkflowHandle[Any, Any]) -> Report:
    """Where a workflow is now; one that ended comes with its outcome and exit code."""
    report = await describe(client, handle)
    if report.status != WorkflowExecutionStatus.RUNNING.name:
        report = await wait_for_outcome(client, handle, report)
    return report


async def query_progress(
    client: Client, handle: WorkflowHandle[Any, Any], workflow_type: str | None, *, ask_workflow: bool = True
) -> Progress | None:
    """Its progress as a model, or None (unknown type, nothing known yet...).

    A migration's progress is the running wait activity's last heartbeat
    (Nova's status, memory left) merged into its ``progress`` query; when the
    query gets no answer (no worker) the heartbeat alone is shown. A plan's
    or a drain's is its ``status`` query (:class:`PlanStatus`). Each call is
    bounded by :data:`QUERY_TIMEOUT`; ``ask_workflow=False`` (no worker to
    answer a query) reads the heartbeat only.
    """
    if workflow_type not in PROGRESS_QUERIES:
        return None
    seconds = QUERY_TIMEOUT.total_seconds()
    if workflow_type != WorkflowType.MIGRATE_SERVER:
        if not ask_workflow:
            return None
        try:
            return await handle.query(
                PROGRESS_QUERIES[workflow_type], result_type=PlanStatus, rpc_timeout=QUERY_TIMEOUT
            )
        except Exception:  # noqa: BLE001 - progress is best effort; the result decides
            return None
    if ask_workflow:
        try:
            return await asyncio.wait_for(migration_progress(client, handle.id), seconds)
        except Exception:  # noqa: BLE001 - no answer to the query: fall back to the heartbeat
            pass
    try:
        beat = await asyncio.wait_for(latest_report(client, handle.id), seconds)
    except Exception:  # noqa: BLE001
        return None
    if beat is None:
        return None
    return MigrationProgress(
        phase=Phase.WAITING,
        migration_id=beat.migration_id,
        nova_migration_status=beat.nova_migration_status,
        memory_total_bytes=beat.memory_total_bytes,
        memory_remaining_bytes=beat.memory_remaining_bytes,
    )


def parse_result(workflow_type: str | None, result: Any) -> Result | None:
    """The workflow's result as its model (None for unknown types or shapes)."""
    if isinstance(result, MigrationResult | PlanStatus | DrainResult | UndrainResult | DrainHostsResult):
        return result
    if isinstance(result, BaseModel):
        result = result.model_dump(mode="json")
    models: dict[str, type[Result]] = {
        WorkflowType.MIGRATE_SERVER: MigrationResult,
        WorkflowType.MAINTENANCE_PLAN: PlanStatus,
        WorkflowType.DRAIN_HOST: DrainResult,
        WorkflowType.UNDRAIN_HOST: UndrainResult,
        WorkflowType.DRAIN_HOSTS: DrainHostsResult,
    }
    model = models.get(workflow_type or "")
    if model is None:
        return None
    try:
        return model.model_validate(result)
    except ValidationError:
        return None


def result_outcome(result: Result | None) -> str:
    """``SUCCEEDED``/``SKIPPED``/``REVERTED``... of a result; ``COMPLETED`` when it says nothing."""
    if isinstance(result, MigrationResult):
        return result.status.value.upper()
    if isinstance(result, PlanStatus):
        return result.state.value
    if isinstance(result, DrainResult | DrainHostsResult):
        return "DRY_RUN" if result.status is None else result.status.state.value
    if isinstance(result, UndrainResult):
        if result.status is not None:
            return result.status.state.value
        return "DRY_RUN" if result.dry_run else "SUCCEEDED"
    return "COMPLETED"


async def wait_for_outcome(client: Client, handle: WorkflowHandle[Any, Any], report: Report) -> Report:
    """Wait for the workflow (following continue-as-new) and fill in its ending."""
    try:
        raw = await handle.result()
    except WorkflowFailureError as err:
        cause = err.cause
        if isinstance(cause, CancelledError):
            report.status, report.outcome = "CANCELED", "CANCELLED"
        elif isinstance(cause, TerminatedError):
            report.status, report.outcome = "TERMINATED", "TERMINATED"
        elif isinstance(cause, TimeoutError):
            report.status, report.outcome = "TIMED_OUT", "TIMED_OUT"
        else:
            report.status, report.outcome = "FAILED", "FAILED"
        report.exit_code = OUTCOME_EXIT_CODES[report.outcome]
        error_type = cause.type if isinstance(cause, ApplicationError) else type(cause).__name__
        report.error = {"type": error_type or "Error", "message": str(getattr(cause, "message", cause))}
        # A cancelled migration or plan still answers its query with its final
        # account (what was reverted, which actions ran); anything else would
        # show what it was doing before it ended, so it shows nothing.
        report.progress = None
        if report.outcome == "CANCELLED":
            report.progress = await query_progress(client, handle, report.workflow_type)
        await _refresh_attributes(handle, report)
        return report
    report.status, report.progress = "COMPLETED", None
    report.result = parse_result(report.workflow_type, raw)
    report.outcome = result_outcome(report.result)
    report.exit_code = OUTCOME_EXIT_CODES.get(report.outcome, ExitCode.SUCCESS)
    await _refresh_attributes(handle, report)
    if no_such_server(report.result):
        report.exit_code = ExitCode.NO_SUCH_SERVER
    return report


def no_such_server(result: Result | None) -> bool:
    """A migration skipped because Nova knows no such server (not: it was on another host)."""
    return (
        isinstance(result, MigrationResult)
        and result.status == MigrationStatus.SKIPPED
        and result.final_host is None
        and "does not exist" in result.reason
    )


async def _refresh_attributes(handle: WorkflowHandle[Any, Any], report: Report) -> None:
    """Search attributes as the ended workflow left them (``WatcherOutcome`` is set last)."""
    try:
        desc = await handle.describe()
    except RPCError:
        return
    report.search_attributes = keyword_values(desc.typed_search_attributes)
    recorded = report.search_attributes.get(OUTCOME.name)
    if recorded and report.outcome in ("COMPLETED", "FAILED"):
        report.outcome = recorded
        report.exit_code = OUTCOME_EXIT_CODES.get(recorded, report.exit_code)


def print_report(report: Report, output: str, stream: TextIO | None = None) -> None:
    """The final document: JSON, or a few lines for people (fitted to the terminal)."""
    stream = stream or sys.stdout
    if output == "json":
        json.dump(report.as_json(), stream, indent=2, default=str)
        stream.write("\n")
        return
    width = terminal_width(stream)
    head = f"{safe(report.workflow_id)}: {report.outcome}"
    if report.workflow_type:
        head += f" ({safe(report.workflow_type)})"
    for line in wrap(head, width):
        stream.write(line + "\n")
    for text in detail_lines(report):
        for line in wrap(text, width, indent="  "):
            stream.write(line + "\n")


def detail_lines(report: Report) -> list[str]:
    """The report's details as safe one-line texts (wrapped by the caller)."""
    lines: list[str] = []
    if report.error:
        lines.append(f"{safe(report.error['type'])}: {safe(report.error['message'])}")
    result = report.result
    if isinstance(result, MigrationResult):
        lines += _migration_lines(result)
    elif isinstance(result, DrainResult):
        lines.append(f"drain of {safe(result.host)}: {len(result.plan.actions)} actions")
        if result.status is not None:
            lines += _plan_lines(result.status)
        lines += [
            f"left behind: {safe(s.resource_id)} ({safe(s.resource_name or '-')}) {safe(s.status)}: {safe(s.reason)}"
            for s in result.left_behind
        ]
    elif isinstance(result, DrainHostsResult):
        lines.append(f"drain of {', '.join(safe(h) for h in result.hosts)}: {len(result.plan.actions)} actions")
        if result.status is not None:
            lines += _plan_lines(result.status)
        lines += [
            f"left behind: {safe(s.resource_id)} ({safe(s.resource_name or '-')}) {safe(s.status)}: {safe(s.reason)}"
            for s in result.left_behind
        ]
    elif isinstance(result, UndrainResult):
        enable = "enable" if result.enables else "no enable"
        lines.append(f"undrain of {safe(result.host)}: {enable}: {safe(result.enable_reason)}")
        if result.status is not None:
            lines += _plan_lines(result.status)
        lines += [
            f"not moved back: {safe(s.resource_id)} ({safe(s.resource_name or '-')}) {safe(s.status)}: {safe(s.reason)}"
            for s in result.left_behind
        ]
    elif isinstance(result, PlanStatus):
        lines += _plan_lines(result)
    if report.progress is not None:
        prefix = "last progress: " if report.status != "RUNNING" else ""
        lines.append(prefix + describe_progress(report.progress))
        if isinstance(report.progress, PlanStatus) and report.status != "RUNNING":
            lines += _action_lines(report.progress)
    eta = report.eta_seconds()
    if eta is not None and report.status == "RUNNING":
        lines.append(
            f"eta: about {human_seconds(eta)} left (from the servers' sizes and this plan's finished migrations)"
        )
    if report.search_attributes:
        lines.append(" ".join(f"{k}={safe(v)}" for k, v in report.search_attributes.items()))
    return lines


def _migration_lines(result: MigrationResult) -> list[str]:
    lines = [safe(result.reason)] if result.reason else []
    if result.final_host:
        lines.append(f"final host: {safe(result.final_host)}")
    if result.revert is not None:
        revert = f"revert: {result.revert.action.value}: {REVERT_WORDS.get(result.revert.action.value, '')}"
        if result.revert.steps:
            revert += " (" + ", ".join(safe(step, limit=120) for step in result.revert.steps) + ")"
        lines.append(revert)
    if result.deadline is not None:
        fired = result.deadline
        line = f"deadline: {fired.deadline.value} ({fired.limit_seconds:g} s) fired; {fired.action.value}"
        if fired.force_completed_at is not None:
            line += f" (force-completed at the {fired.force_completed_at.value} deadline before)"
        lines.append(line)
    if result.force_completes:
        lines.append(f"force-completed on request: {result.force_completes} time(s)")
    lines.append(f"took {result.timings.seconds:.1f}s")
    return lines


def _plan_lines(status: PlanStatus) -> list[str]:
    lines = [safe(status.reason)] if status.reason else []
    counts = ", ".join(f"{k.lower()} {v}" for k, v in status.counts.items() if v)
    if counts:
        lines.append(f"actions: {counts}")
    return lines + _action_lines(status)


def _action_lines(status: PlanStatus) -> list[str]:
    """One line per action: its state, why it ended so, and its rollback."""
    lines = []
    for action in status.actions:
        line = f"- {safe(action.id, limit=80)}: {action.state.value}"
        if action.reason:
            line += f": {safe(action.reason)}"
        if action.revert is not None:
            line += f"; rollback {action.revert.value}"
            if action.revert_reason:
                line += f": {safe(action.revert_reason)}"
        lines.append(line)
    return lines


def fail(args: Any, code: ExitCode, kind: str, message: str, *, prog: str = "watcher-temporal") -> int:
    """Report an error the same way for every command; returns ``code``.

    With ``-o json`` stdout still gets one document (``{outcome, exit_code,
    error}``) so scripts need not parse stderr; people read stderr.
    """
    if getattr(args, "output", "text") == "json":
        doc = {"outcome": kind, "exit_code": int(code), "error": {"type": kind, "message": message}}
        json.dump(doc, sys.stdout)
        sys.stdout.write("\n")
        sys.stdout.flush()
    print(f"{prog}: {safe(message, limit=2000)}", file=sys.stderr)
    return code

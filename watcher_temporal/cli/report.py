"""What a workflow is doing or how it ended, as the CLI prints and exits on it."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from typing import Any, TextIO

from pydantic import BaseModel
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import ApplicationError, CancelledError, TerminatedError, TimeoutError
from temporalio.service import RPCError, RPCStatusCode

from watcher_temporal.cli.exit_codes import ExitCode, UsageError
from watcher_temporal.contract import PROGRESS_QUERY, STATUS_QUERY
from watcher_temporal.search_attributes import keyword_values

MIGRATE_WORKFLOW = "MigrateServer"
PLAN_WORKFLOW = "MaintenancePlan"
#: Query that reports progress, per workflow type.
PROGRESS_QUERIES = {MIGRATE_WORKFLOW: PROGRESS_QUERY, PLAN_WORKFLOW: STATUS_QUERY}
QUERY_TIMEOUT = timedelta(seconds=5)

#: Exit code of a returned result's status (MigrationResult / PlanStatus).
RESULT_EXIT_CODES = {
    "SUCCEEDED": ExitCode.SUCCESS,
    "SKIPPED": ExitCode.SKIPPED,
    "REVERTED": ExitCode.REVERTED,
    "FAILED": ExitCode.FAILED,
    "CANCELLED": ExitCode.CANCELLED,
}


@dataclass
class Report:
    """One workflow, as ``status``/``--wait`` report it (the ``-o json`` document).

    Attributes:
        workflow_id: The workflow id.
        run_id: The run reported on.
        workflow_type: ``MigrateServer``, ``MaintenancePlan``...
        status: Temporal's execution status (``RUNNING``, ``COMPLETED``...).
        outcome: ``RUNNING``, or the ending: the result's own status
            (``SUCCEEDED``/``SKIPPED``/``REVERTED``, a plan's state), or
            ``FAILED``/``CANCELLED``/``TERMINATED``/``TIMED_OUT``.
        exit_code: The CLI's exit code for it.
        result: The workflow's result (JSON) when it completed.
        error: ``{type, message}`` when it failed.
        progress: Last answer of its progress query while running.
        search_attributes: The project's search attributes that are set.
    """

    workflow_id: str
    run_id: str | None = None
    workflow_type: str | None = None
    status: str = "RUNNING"
    outcome: str = "RUNNING"
    exit_code: int = ExitCode.SUCCESS
    result: Any = None
    error: dict[str, str] | None = None
    progress: Any = None
    search_attributes: dict[str, str] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


async def describe(handle: WorkflowHandle[Any, Any]) -> Report:
    """Where a workflow is now (no waiting); queries its progress if it runs.

    Raises:
        UsageError: no workflow has that id.
    """
    try:
        desc = await handle.describe()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise UsageError(f"no workflow {handle.id!r} in this namespace") from None
        raise
    report = Report(
        workflow_id=desc.id,
        run_id=desc.run_id,
        workflow_type=desc.workflow_type,
        status=desc.status.name if desc.status else "UNKNOWN",
        search_attributes=keyword_values(desc.typed_search_attributes),
    )
    if desc.status == WorkflowExecutionStatus.RUNNING:
        report.progress = await query_progress(handle, desc.workflow_type)
    return report


async def current_report(handle: WorkflowHandle[Any, Any]) -> Report:
    """Where a workflow is now; one that ended comes with its outcome and exit code."""
    report = await describe(handle)
    if report.status != WorkflowExecutionStatus.RUNNING.name:
        report = await wait_for_outcome(handle, report)
    return report


async def query_progress(handle: WorkflowHandle[Any, Any], workflow_type: str | None) -> Any:
    """The progress query's answer as JSON, or None (unknown type, no worker...)."""
    query = PROGRESS_QUERIES.get(workflow_type or "")
    if query is None:
        return None
    try:
        return await handle.query(query, rpc_timeout=QUERY_TIMEOUT)
    except Exception:  # noqa: BLE001 - progress is best effort; the result decides
        return None


async def wait_for_outcome(handle: WorkflowHandle[Any, Any], report: Report) -> Report:
    """Wait for the workflow (following continue-as-new) and fill in its ending."""
    try:
        result = await handle.result()
    except WorkflowFailureError as err:
        cause = err.cause
        if isinstance(cause, CancelledError):
            report.status, report.outcome, report.exit_code = "CANCELED", "CANCELLED", ExitCode.CANCELLED
        elif isinstance(cause, TerminatedError):
            report.status, report.outcome, report.exit_code = "TERMINATED", "TERMINATED", ExitCode.FAILED
        elif isinstance(cause, TimeoutError):
            report.status, report.outcome, report.exit_code = "TIMED_OUT", "TIMED_OUT", ExitCode.FAILED
        else:
            report.status, report.outcome, report.exit_code = "FAILED", "FAILED", ExitCode.FAILED
        error_type = cause.type if isinstance(cause, ApplicationError) else type(cause).__name__
        report.error = {"type": error_type or "Error", "message": str(getattr(cause, "message", cause))}
        # A cancelled migration or plan still answers its query: keep the final
        # account (what was reverted, which actions ran) in the report.
        is_cancelled = report.outcome == "CANCELLED"
        report.progress = await query_progress(handle, report.workflow_type) if is_cancelled else None
        return report
    if isinstance(result, BaseModel):  # a typed handle (``start_migration``) returns the model
        result = result.model_dump(mode="json")
    report.status, report.result, report.progress = "COMPLETED", result, None
    ending = _result_status(result)
    report.outcome = ending or "COMPLETED"
    report.exit_code = RESULT_EXIT_CODES.get(ending or "", ExitCode.SUCCESS)
    return report


def _result_status(result: Any) -> str | None:
    """``status`` of a MigrationResult or ``state`` of a PlanStatus."""
    if isinstance(result, dict):
        for key in ("status", "state"):
            value = result.get(key)
            if isinstance(value, str):
                return value.upper()
    return None


def print_report(report: Report, output: str, stream: TextIO | None = None) -> None:
    """The final document: JSON, or a few lines for people."""
    stream = stream or sys.stdout
    if output == "json":
        json.dump(report.as_json(), stream, indent=2, default=str)
        stream.write("\n")
        return
    stream.write(f"{report.workflow_id}: {report.outcome}")
    if report.workflow_type:
        stream.write(f" ({report.workflow_type})")
    stream.write("\n")
    for line in _detail_lines(report):
        stream.write(f"  {line}\n")


def _detail_lines(report: Report) -> list[str]:
    lines: list[str] = []
    if report.error:
        lines.append(f"{report.error['type']}: {report.error['message']}")
    result = report.result if isinstance(report.result, dict) else {}
    if result.get("reason"):
        lines.append(str(result["reason"]))
    if result.get("final_host"):
        lines.append(f"final host: {result['final_host']}")
    if isinstance(result.get("counts"), dict):
        lines.append("actions: " + ", ".join(f"{k.lower()} {v}" for k, v in result["counts"].items() if v))
    timings = result.get("timings")
    if isinstance(timings, dict) and "seconds" in timings:
        lines.append(f"took {float(timings['seconds']):.1f}s")
    if report.progress is not None:
        from watcher_temporal.cli.progress import describe_progress

        lines.append(describe_progress(report.workflow_type, report.progress))
    if report.search_attributes:
        lines.append(" ".join(f"{k}={v}" for k, v in report.search_attributes.items()))
    return lines


def fail(args: Any, code: ExitCode, kind: str, message: str, *, prog: str = "watcher-temporal") -> int:
    """Report an error the same way for every command; returns ``code``.

    With ``-o json`` stdout still gets one document (``{outcome, exit_code,
    error}``) so scripts need not parse stderr; people read stderr.
    """
    if getattr(args, "output", "text") == "json":
        json.dump({"outcome": kind, "exit_code": int(code), "error": {"type": kind, "message": message}}, sys.stdout)
        sys.stdout.write("\n")
    print(f"{prog}: {message}", file=sys.stderr)
    return code

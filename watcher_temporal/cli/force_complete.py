"""``watcher-temporal force-complete SERVER [--wait]``: finish a running live migration now.

Sends the ``force_complete`` update to the server's ``MigrateServer``
workflow; the workflow asks Nova to force-complete the running live
migration (the guest is paused for the final copy). Refused (exit 2) when the
migration is not live, not waiting for Nova's copy, or was force-completed
too often; refused by Nova (exit 1) when its migration is not running yet.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from temporalio.client import WorkflowExecutionStatus, WorkflowUpdateFailedError
from temporalio.exceptions import ActivityError, ApplicationError

from watcher_temporal.cli.exit_codes import CommandError, ExitCode, UsageError
from watcher_temporal.cli.options import Session, add_wait_options
from watcher_temporal.cli.progress import follow_as_asked
from watcher_temporal.cli.render import safe
from watcher_temporal.cli.report import current_report, print_report
from watcher_temporal.cli.servers import resolve_server
from watcher_temporal.contract import (
    FORCE_COMPLETE_UPDATE,
    MAX_FORCE_COMPLETES,
    ForceCompleteResult,
    migration_workflow_id,
)

#: Outcome of the ``-o json`` document when the update was accepted.
ACCEPTED = "FORCE_COMPLETE_REQUESTED"


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "force-complete",
        help="force a running live migration to complete now (the guest pauses for the final copy)",
        description=(
            "Ask the server's running MigrateServer workflow to force-complete its live migration "
            f"(Nova's force-complete, microversion 2.22; at most {MAX_FORCE_COMPLETES} per migration). "
            "With --wait, follow the migration to its end."
        ),
    )
    parser.add_argument("server", metavar="SERVER", help="server UUID, or its name when OS_CLOUD is set")
    add_wait_options(parser, "the migration")
    return parser


async def run(args: argparse.Namespace) -> int:
    server_id, _name = await resolve_server(args.server)
    session = Session(args)
    async with session as client:
        handle = client.get_workflow_handle(migration_workflow_id(server_id))
        report = await current_report(client, handle)
        workflow_id = safe(report.workflow_id)
        if report.status != WorkflowExecutionStatus.RUNNING.name:
            raise UsageError(f"{workflow_id} is not running (it ended {report.outcome}); nothing to force-complete")
        try:
            done = await handle.execute_update(FORCE_COMPLETE_UPDATE, result_type=ForceCompleteResult)
        except WorkflowUpdateFailedError as err:
            raise _refusal(workflow_id, err) from None
        said = (
            f"force-complete of live migration {safe(done.migration_id)} of {workflow_id} accepted by Nova "
            f"({done.force_completes} of at most {MAX_FORCE_COMPLETES})"
        )
        if not args.wait:
            if args.output == "json":
                doc: dict[str, Any] = report.as_json() | {
                    "outcome": ACCEPTED,
                    "exit_code": int(ExitCode.SUCCESS),
                    "force_complete": done.model_dump(mode="json"),
                }
                json.dump(doc, sys.stdout, indent=2, default=str)
                sys.stdout.write("\n")
            else:
                print(said)
            return ExitCode.SUCCESS
        if args.output == "text":
            print(said + "; following", file=sys.stderr)
        report = await follow_as_asked(client, handle, report, args)
        print_report(report, args.output)
        return report.exit_code


def _refusal(workflow_id: str, err: WorkflowUpdateFailedError) -> CommandError:
    """The workflow's validator refused (usage, 2) or Nova refused (failed, 1)."""
    cause: BaseException | None = err.cause
    if isinstance(cause, ActivityError):
        cause = cause.cause
    if isinstance(cause, ApplicationError):
        kind = cause.type or "ApplicationError"
        code = ExitCode.USAGE if kind == "InvalidInput" else ExitCode.FAILED
        return CommandError(code, kind, f"{workflow_id}: {safe(cause.message)}")
    return CommandError(ExitCode.FAILED, type(cause).__name__, f"{workflow_id}: force-complete failed: {safe(err)}")

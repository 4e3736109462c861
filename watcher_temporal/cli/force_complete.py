"""``watcher-temporal force-complete SERVER [--wait]``: finish a running live migration now.

Sends the ``force_complete`` update to the server's ``MigrateServer``
workflow; the workflow asks Nova to force-complete the running live
migration (the guest is paused for the final copy). Refused (exit 2) when the
migration is not live, not waiting for Nova's copy, or was force-completed
too often; refused by Nova (exit 1) when its migration is not running yet.
"""

from __future__ import annotations

import argparse
from typing import Any

from watcher_temporal.cli.options import MAX_FORCE_COMPLETES, add_wait_options

#: Outcome of the ``-o json`` document when the update was accepted.
ACCEPTED = "FORCE_COMPLETE_REQUESTED"
#: The exit codes ``force-complete`` can end with (its help lists them).
EXIT_CODES = (0, 1, 2, 3, 5, 7, 8, 130)


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
    import json
    import sys

    from temporalio.client import WorkflowExecutionStatus, WorkflowUpdateFailedError

    from watcher_temporal.cli.exit_codes import ExitCode, UsageError
    from watcher_temporal.cli.progress import follow_as_asked
    from watcher_temporal.cli.render import safe
    from watcher_temporal.cli.report import describe, print_report, wait_for_outcome
    from watcher_temporal.cli.servers import resolve_server
    from watcher_temporal.cli.session import Session
    from watcher_temporal.cli.workers import check_worker
    from watcher_temporal.contract import FORCE_COMPLETE_UPDATE, ForceCompleteResult, migration_workflow_id

    server_id, _name = await resolve_server(args.server)
    async with Session(args) as client:
        handle = client.get_workflow_handle(migration_workflow_id(server_id))
        report = await describe(client, handle, ask_workflow=False)
        workflow_id = safe(report.workflow_id)
        if report.status != WorkflowExecutionStatus.RUNNING.name:
            report = await wait_for_outcome(client, handle, report)
            raise UsageError(f"{workflow_id} is not running (it ended {report.outcome}); nothing to force-complete")
        # An update needs a worker on the workflow's own queue: without one it would wait forever.
        await check_worker(client, report.task_queue, required=True, wait_seconds=args.worker_wait)
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


def _refusal(workflow_id: str, err: Any) -> Any:
    """The workflow's validator refused (usage, 2) or Nova refused (failed, 1): a ``CommandError``."""
    from temporalio.exceptions import ActivityError, ApplicationError

    from watcher_temporal.cli.exit_codes import CommandError, ExitCode
    from watcher_temporal.cli.render import safe

    cause: BaseException | None = err.cause
    if isinstance(cause, ActivityError):
        cause = cause.cause
    if isinstance(cause, ApplicationError):
        kind = cause.type or "ApplicationError"
        code = ExitCode.USAGE if kind == "InvalidInput" else ExitCode.FAILED
        return CommandError(code, kind, f"{workflow_id}: {safe(cause.message)}")
    return CommandError(ExitCode.FAILED, type(cause).__name__, f"{workflow_id}: force-complete failed: {safe(err)}")

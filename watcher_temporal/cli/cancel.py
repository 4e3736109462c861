"""``watcher-temporal cancel ID [--wait]``: cancel a migration (it aborts and reverts) or a plan."""

from __future__ import annotations

import argparse

from temporalio.client import WorkflowExecutionStatus

from watcher_temporal.cli.exit_codes import UsageError
from watcher_temporal.cli.options import Session, add_id_argument, add_wait_options, workflow_id_of
from watcher_temporal.cli.progress import finish
from watcher_temporal.cli.render import safe
from watcher_temporal.cli.report import current_report


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "cancel",
        help="cancel a running migration or plan (a migration aborts and reverts)",
        description="Request cancellation; with --wait, follow the compensation until the workflow ends.",
    )
    add_id_argument(parser)
    parser.add_argument("--reason", default="cancelled with watcher-temporal cancel", help="recorded in history")
    add_wait_options(parser, "the workflow")
    return parser


async def run(args: argparse.Namespace) -> int:
    session = Session(args)
    async with session as client:
        handle = client.get_workflow_handle(workflow_id_of(args.id))
        report = await current_report(client, handle)
        workflow_id = safe(report.workflow_id)
        if report.status != WorkflowExecutionStatus.RUNNING.name:
            raise UsageError(f"{workflow_id} is not running (it ended {report.outcome}); nothing to cancel")
        await handle.cancel(reason=args.reason)
        report.outcome = "CANCEL_REQUESTED"
        return await finish(
            client,
            handle,
            report,
            args,
            task_queue=session.settings.task_queue,
            accepted=f"cancellation of {workflow_id} requested; it reverts before it ends",
            following=f"cancellation of {workflow_id} requested; following",
        )

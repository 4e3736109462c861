"""``watcher-temporal cancel ID [--wait]``: cancel a migration (it aborts and reverts) or a plan."""

from __future__ import annotations

import argparse

from watcher_temporal.cli.options import add_id_argument, add_wait_options

#: The exit codes ``cancel`` can end with (its help lists them).
EXIT_CODES = (0, 1, 2, 3, 4, 5, 7, 8, 9, 130)


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
    from temporalio.client import WorkflowExecutionStatus

    from watcher_temporal.cli.exit_codes import UsageError
    from watcher_temporal.cli.progress import finish
    from watcher_temporal.cli.render import safe
    from watcher_temporal.cli.report import describe, wait_for_outcome
    from watcher_temporal.cli.session import Session, workflow_id_of

    async with Session(args) as client:
        handle = client.get_workflow_handle(workflow_id_of(args.id))
        report = await describe(client, handle, ask_workflow=False)  # no query: it may have no worker
        workflow_id = safe(report.workflow_id)
        if report.status != WorkflowExecutionStatus.RUNNING.name:
            report = await wait_for_outcome(client, handle, report)
            raise UsageError(f"{workflow_id} is not running (it ended {report.outcome}); nothing to cancel")
        await handle.cancel(reason=args.reason)
        report.outcome = "CANCEL_REQUESTED"
        return await finish(
            client,
            handle,
            report,
            args,
            task_queue=report.task_queue,
            accepted=f"cancellation of {workflow_id} requested; it reverts before it ends",
            following=f"cancellation of {workflow_id} requested; following",
        )

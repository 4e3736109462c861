"""``watcher-temporal status ID [--wait]``: where a migration or plan is, or how it ended."""

from __future__ import annotations

import argparse

from watcher_temporal.cli.options import add_id_argument, add_wait_options

#: The exit codes ``status`` can end with (its help lists them).
EXIT_CODES = (0, 1, 2, 3, 4, 5, 7, 8, 9, 130)


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "status",
        help="show a migration's or plan's progress or outcome",
        description="Status of a workflow; the exit code is its outcome once it ended (0 while it runs).",
    )
    add_id_argument(parser)
    add_wait_options(parser, "it")
    return parser


async def run(args: argparse.Namespace) -> int:
    from temporalio.client import WorkflowExecutionStatus

    from watcher_temporal.cli.progress import follow_as_asked
    from watcher_temporal.cli.report import describe, print_report, query_progress, wait_for_outcome
    from watcher_temporal.cli.session import Session, workflow_id_of
    from watcher_temporal.cli.workers import check_worker

    async with Session(args) as client:
        handle = client.get_workflow_handle(workflow_id_of(args.id))
        report = await describe(client, handle, ask_workflow=False)
        if report.status != WorkflowExecutionStatus.RUNNING.name:
            report = await wait_for_outcome(client, handle, report)
        else:
            # The workflow's own task queue: the one a worker must poll for it to move.
            if await check_worker(client, report.task_queue, required=args.wait, wait_seconds=args.worker_wait):
                report.progress = await query_progress(client, handle, report.workflow_type)
            if args.wait:
                report = await follow_as_asked(client, handle, report, args)
        print_report(report, args.output)
        return report.exit_code

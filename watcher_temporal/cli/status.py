"""``watcher-temporal status ID [--wait]``: where a migration or plan is, or how it ended."""

from __future__ import annotations

import argparse

from temporalio.client import WorkflowExecutionStatus

from watcher_temporal.cli.options import Session, add_wait_options, workflow_id_of
from watcher_temporal.cli.progress import follow
from watcher_temporal.cli.report import describe, print_report, wait_for_outcome


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "status",
        help="show a migration's or plan's progress or outcome",
        description="Status of a workflow; the exit code is its outcome once it ended (0 while it runs).",
    )
    parser.add_argument("id", metavar="ID", help="workflow id, or a server UUID (= migrate-<uuid>)")
    add_wait_options(parser, "it")
    return parser


async def run(args: argparse.Namespace) -> int:
    async with Session(args) as client:
        handle = client.get_workflow_handle(workflow_id_of(args.id))
        report = await describe(handle)
        if report.status != WorkflowExecutionStatus.RUNNING.name:
            report = await wait_for_outcome(handle, report)
        elif args.wait:
            report = await follow(handle, report, output=args.output, interval=args.progress_interval)
        print_report(report, args.output)
        return report.exit_code

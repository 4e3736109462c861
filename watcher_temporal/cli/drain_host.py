"""``watcher-temporal drain-host``: empty a compute host for maintenance.

    watcher-temporal drain-host --host HOST [--backup-host HOST] [--no-live] [--no-cold]
                                [--max-parallel N] [--max-parallel-per-host N]
                                [--on-failure continue|stop|rollback]
                                [--dry-run] [--wait] [--plan-id ID] [-o text|json]

A worker builds the plan from live Nova state (``BuildDrainPlan`` workflow,
so this CLI needs no Nova credentials): the host's nova-compute service is
disabled (``watcher_maintaining``), every server moves (ACTIVE live, SHUTOFF
cold; to ``--backup-host`` or wherever the scheduler says). ``--dry-run``
prints the plan; otherwise a ``MaintenancePlan`` starts as ``plan-drain-HOST``
(or ``--plan-id``), so one host is never drained twice at once.

Exit codes: 0 succeeded (or started, without ``--wait``; or dry run),
1 failed, 2 usage or invalid input (unknown host...), 3 cancelled,
6 a plan with that id is already running.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import uuid
from typing import Any

from pydantic import ValidationError
from temporalio.client import WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError

from watcher_temporal.cli.exit_codes import ExitCode
from watcher_temporal.cli.options import Session
from watcher_temporal.cli.progress import follow as follow_progress
from watcher_temporal.cli.report import describe, fail, print_report
from watcher_temporal.contract import (
    PLAN_WORKFLOW_ID_PREFIX,
    DrainPlan,
    DrainRequest,
    OnFailure,
    PlanStatus,
    describe_validation_error,
)

#: Seconds between two status polls while ``--wait`` follows the plan.
FOLLOW_INTERVAL = 2.0
#: Error types of ``BuildDrainPlan`` that mean "your request is wrong".
REQUEST_ERRORS = frozenset({"InvalidInput", "PreconditionFailed"})


def register(subparsers: Any) -> None:
    """Add the ``drain-host`` subcommand to the project CLI."""
    parser = subparsers.add_parser(
        "drain-host",
        help="empty a compute host for maintenance (Watcher's host_maintenance)",
        description=__doc__.split("\n\n")[2] if __doc__ else None,
    )
    add_arguments(parser)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of ``drain-host`` (also used by ``python -m``)."""
    parser.add_argument("host_arg", nargs="?", metavar="HOST", help="the host to drain (or --host)")
    parser.add_argument("--host", help="compute host to drain; its service is disabled and not re-enabled")
    parser.add_argument("--backup-host", help="send every server here (enabled first if disabled)")
    parser.add_argument("--no-live", action="store_true", help="never live-migrate (ACTIVE servers move cold)")
    parser.add_argument("--no-cold", action="store_true", help="never cold-migrate (SHUTOFF servers stay)")
    parser.add_argument("--max-parallel", type=int, default=4, help="migrations at once (default 4)")
    parser.add_argument(
        "--max-parallel-per-host", type=int, default=None, help="migrations per host at once (default: max-parallel)"
    )
    parser.add_argument(
        "--on-failure",
        choices=[p.value for p in OnFailure],
        default=OnFailure.STOP.value,
        help="after a failed action: continue, stop (default) or rollback everything done",
    )
    parser.add_argument("--dry-run", action="store_true", help="print the plan, start nothing")
    parser.add_argument("--wait", action="store_true", help="follow the plan until it ends")
    parser.add_argument("--plan-id", help="workflow id of the plan (default plan-drain-HOST)")


def request_from_args(args: argparse.Namespace) -> DrainRequest:
    """The drain request the flags describe.

    Raises:
        ValueError: no host, or two different ones.
        ValidationError: a value broke a rule.
    """
    host = args.host or args.host_arg
    if not host or (args.host and args.host_arg and args.host != args.host_arg):
        raise ValueError("give the host to drain once, as HOST or --host")
    return DrainRequest(
        host=host,
        backup_host=args.backup_host,
        allow_live=not args.no_live,
        allow_cold=not args.no_cold,
        max_parallel=args.max_parallel,
        max_parallel_per_host=args.max_parallel_per_host,
        on_failure=OnFailure(args.on_failure),
    )


async def run(args: argparse.Namespace) -> int:
    """Build the plan on a worker, then print it, start it, or follow it."""
    try:
        request = request_from_args(args)
    except ValueError as err:
        problems = (
            [f"{p['field']}: {p['rule']}" for p in describe_validation_error(err)]
            if isinstance(err, ValidationError)
            else [str(err)]
        )
        return fail(args, ExitCode.USAGE, "InvalidInput", "; ".join(problems))
    session = Session(args)
    async with session as client:
        task_queue = session.settings.task_queue
        try:
            drain = await client.execute_workflow(
                "BuildDrainPlan",
                request,
                id=f"drain-plan-{request.host}-{uuid.uuid4().hex[:8]}",
                task_queue=task_queue,
                result_type=DrainPlan,
            )
        except WorkflowFailureError as err:
            cause = err.cause
            if isinstance(cause, ApplicationError) and cause.type in REQUEST_ERRORS:
                return fail(args, ExitCode.USAGE, cause.type, cause.message)
            return fail(args, ExitCode.FAILED, type(cause).__name__, str(cause))
        if args.dry_run:
            _emit(args, {"dry_run": True, **drain.model_dump(mode="json")}, _plan_text(drain))
            return ExitCode.SUCCESS
        plan_id = args.plan_id or f"{PLAN_WORKFLOW_ID_PREFIX}drain-{request.host}"
        try:
            handle = await client.start_workflow(
                "MaintenancePlan", drain.plan, id=plan_id, task_queue=task_queue, result_type=PlanStatus
            )
        except WorkflowAlreadyStartedError:
            return fail(
                args,
                ExitCode.ALREADY_RUNNING,
                "AlreadyRunning",
                f"plan {plan_id} is already running; follow it with `watcher-temporal status {plan_id}`",
            )
        if not args.wait:
            _emit(
                args,
                {"workflow_id": plan_id, "run_id": handle.result_run_id, **drain.model_dump(mode="json")},
                _plan_text(drain) + f"\nstarted plan {plan_id}",
            )
            return ExitCode.SUCCESS
        return await follow(handle, args)


async def follow(handle: WorkflowHandle[Any, PlanStatus], args: argparse.Namespace) -> int:
    """Show the plan's counts until it ends, then its report; the exit code says how it ended."""
    report = await follow_progress(handle, await describe(handle), output=args.output, interval=FOLLOW_INTERVAL)
    print_report(report, args.output)
    return report.exit_code


def _plan_text(drain: DrainPlan) -> str:
    plan = drain.plan
    lines = [
        f"drain {drain.host}: {len(plan.actions)} actions, max_parallel {plan.max_parallel}, "
        f"max_parallel_per_host {plan.max_parallel_per_host}, on_failure {plan.on_failure.value}"
    ]
    for action in plan.actions:
        params = action.input_parameters
        if action.action_type.value == "migrate":
            what = (
                f"{params['migration_type']} {params['resource_id']} ({params.get('resource_name') or '-'}) "
                f"{params['source_node']} -> {params.get('destination_node') or '(scheduler)'}"
            )
        else:
            what = " ".join(f"{k}={v}" for k, v in params.items())
        after = f"  after {', '.join(action.parents)}" if action.parents else ""
        lines.append(f"  {action.id:<46} {action.action_type.value:<26} {what}{after}")
    for server in drain.left_behind:
        lines.append(
            f"  left behind: {server.resource_id} ({server.resource_name or '-'}) {server.status}: {server.reason}"
        )
    return "\n".join(lines)


def _emit(args: argparse.Namespace, doc: dict[str, Any], text: str) -> None:
    if args.output == "json":
        json.dump(doc, sys.stdout)
        sys.stdout.write("\n")
    else:
        print(text)


def main(argv: list[str] | None = None) -> int:
    """``python -m watcher_temporal.cli.drain_host``: the subcommand on its own."""
    parser = argparse.ArgumentParser(prog="python -m watcher_temporal.cli.drain_host", description=__doc__)
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    add_arguments(parser)
    # The project CLI adds --output (and --address...) to every command itself.
    parser.add_argument("-o", "--output", choices=("text", "json"), default="text")
    return int(asyncio.run(run(parser.parse_args(argv))))


if __name__ == "__main__":
    sys.exit(main())

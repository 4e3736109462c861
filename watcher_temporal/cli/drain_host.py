"""``watcher-temporal drain-host``: empty a compute host for maintenance.

    watcher-temporal drain-host HOST [--backup-host HOST] [--no-live] [--no-cold]
                                [--servers UUID|NAME,...] [--limit N]
                                [--disable-host | --keep-enabled] [--ignore-capacity]
                                [--max-parallel N] [--max-parallel-per-host N]
                                [--max-parallel-per-source N] [--max-parallel-per-destination N]
                                [--on-failure continue|stop|rollback|watcher]
                                [--dry-run] [--wait] [--wait-timeout S] [-o text|json]

One ``DrainHost`` workflow does it all on a worker (which holds the Nova
credentials, so this CLI needs none): it builds the plan from live Nova state
(the host's nova-compute service is disabled, ``watcher_maintaining``; every
server moves, ACTIVE live, SHUTOFF cold, to ``--backup-host`` or wherever the
scheduler says) and runs it. Before any Nova write it checks that the
servers fit on the enabled hosts left (placement), keeps members of an
anti-affinity server group from moving together, and honours each server's
``watcher-temporal:maintenance`` metadata (live, cold, stop-and-cold, skip).
``--servers`` / ``--limit`` drain part of the host, which then stays enabled
unless ``--disable-host``. It runs as ``drain-HOST``, so one host is never
drained twice at once. ``--dry-run`` runs it with ``dry_run`` under a
throwaway id (``dry-run-drain-HOST-<8 hex>``, short execution timeout), waits
for the plan and prints it: nothing stays running.

Exit codes: 0 succeeded (or started, without ``--wait``; or dry run),
1 failed, 2 usage or invalid input (unknown host...), 3 cancelled,
6 a drain of that host is already running, 7 no worker, 8 --wait-timeout.
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from datetime import timedelta
from typing import Any

from watcher_temporal.cli.exit_codes import ExitCode
from watcher_temporal.cli.options import (
    DEFAULT_MAX_PARALLEL_PER_SOURCE,
    ON_FAILURE_CHOICES,
    ON_FAILURE_HELP,
    add_deadline_options,
    plain,
)

#: Seconds between two status polls while ``--wait`` follows the drain.
FOLLOW_INTERVAL = 2.0
#: Execution timeout of a dry run: it only reads Nova, then ends.
DRY_RUN_TIMEOUT = timedelta(minutes=2)
#: Error types of ``DrainHost`` that mean "your request is wrong".
REQUEST_ERRORS = frozenset({"InvalidInput", "PreconditionFailed"})
#: The exit codes ``drain-host`` can end with (its help lists them).
EXIT_CODES = (0, 1, 2, 3, 6, 7, 8, 130)


def register(subparsers: Any) -> None:
    """Add the ``drain-host`` subcommand to the project CLI."""
    parser = subparsers.add_parser(
        "drain-host",
        help="empty a compute host for maintenance (Watcher's host_maintenance)",
        description=plain(__doc__.split("\n\n")[2]) if __doc__ else None,
    )
    add_arguments(parser)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of ``drain-host``."""
    parser.add_argument("host_arg", nargs="?", metavar="HOST", help="the host to drain (or --host)")
    parser.add_argument("--host", help="compute host to drain; its service is disabled and not re-enabled")
    parser.add_argument("--backup-host", help="send every server here (enabled first if disabled)")
    parser.add_argument("--no-live", action="store_true", help="never live-migrate (ACTIVE servers move cold)")
    parser.add_argument("--no-cold", action="store_true", help="never cold-migrate (SHUTOFF servers stay)")
    parser.add_argument("--servers", help="drain only these servers of the host: UUIDs or exact names, comma-separated")
    parser.add_argument("--limit", type=int, default=None, help="move at most N servers (in name order)")
    disable = parser.add_mutually_exclusive_group()
    disable.add_argument(
        "--disable-host",
        action="store_true",
        default=None,
        help="disable the host's compute service even for a partial drain",
    )
    disable.add_argument(
        "--keep-enabled",
        dest="disable_host",
        action="store_false",
        help="never disable the host's compute service (default for --servers / --limit)",
    )
    parser.add_argument(
        "--ignore-capacity", action="store_true", help="drain even when the servers do not fit on the enabled hosts"
    )
    parser.add_argument("--max-parallel", type=int, default=4, help="migrations at once (default 4)")
    parser.add_argument(
        "--max-parallel-per-host", type=int, default=None, help="migrations per host at once (default: max-parallel)"
    )
    parser.add_argument(
        "--max-parallel-per-source",
        type=int,
        default=DEFAULT_MAX_PARALLEL_PER_SOURCE,
        help="outbound migrations of the drained host at once (default 1, Nova's max_concurrent_live_migrations)",
    )
    add_run_options(parser)
    parser.add_argument("--plan-id", help=argparse.SUPPRESS)


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """The flags every drain shares: inbound limit, failure policy, dry run, following, deadlines."""
    parser.add_argument(
        "--max-parallel-per-destination", type=int, default=None, help="inbound migrations per host at once"
    )
    parser.add_argument(
        "--on-failure",
        choices=ON_FAILURE_CHOICES,
        default="stop",
        help=ON_FAILURE_HELP,
    )
    parser.add_argument("--dry-run", action="store_true", help="print the plan; change nothing, leave nothing running")
    parser.add_argument("--wait", action="store_true", help="follow the drain until it ends")
    parser.add_argument(
        "--progress-interval", type=float, default=FOLLOW_INTERVAL, help="seconds between progress updates with --wait"
    )
    add_deadline_options(parser)


def request_from_args(args: argparse.Namespace) -> Any:
    """The drain request the flags describe.

    Raises:
        ValueError: no host, or two different ones.
        ValidationError: a value broke a rule.
    """
    from watcher_temporal.contract import DrainRequest, OnFailure

    host = args.host or args.host_arg
    if not host or (args.host and args.host_arg and args.host != args.host_arg):
        raise ValueError("give the host to drain once, as HOST or --host")
    return DrainRequest(
        host=host,
        backup_host=args.backup_host,
        servers=[s.strip() for s in args.servers.split(",") if s.strip()] if args.servers is not None else None,
        limit=args.limit,
        disable_host=args.disable_host,
        ignore_capacity=args.ignore_capacity,
        allow_live=not args.no_live,
        allow_cold=not args.no_cold,
        max_parallel=args.max_parallel,
        max_parallel_per_host=args.max_parallel_per_host,
        max_parallel_per_source=args.max_parallel_per_source,
        max_parallel_per_destination=args.max_parallel_per_destination,
        on_failure=OnFailure(args.on_failure),
        dry_run=args.dry_run,
    )


def dry_run_workflow_id(host: str) -> str:
    """A throwaway id for a dry run: ``dry-run-drain-<host>-<8 hex>`` (never blocks a real drain)."""
    from watcher_temporal.contract import DRAIN_ID_PREFIX

    return f"dry-run-{DRAIN_ID_PREFIX}{host}-{uuid.uuid4().hex[:8]}"


async def run(args: argparse.Namespace) -> int:
    """Start the host's ``DrainHost`` workflow; print its plan (dry run), acknowledge it, or follow it."""
    from pydantic import ValidationError

    from watcher_temporal.cli.progress import start_and_finish
    from watcher_temporal.cli.render import safe
    from watcher_temporal.cli.report import fail
    from watcher_temporal.cli.session import Session
    from watcher_temporal.cli.workers import check_worker
    from watcher_temporal.contract import DrainResult, WorkflowType, describe_validation_error, drain_workflow_id

    if args.plan_id:
        return fail(
            args,
            ExitCode.USAGE,
            "UsageError",
            "--plan-id is gone: a drain always runs as drain-<host>, so a host is never drained twice at once",
        )
    try:
        request = request_from_args(args)
    except ValueError as err:
        problems = (
            [f"{p['field']}: {p['rule']}" for p in describe_validation_error(err)]
            if isinstance(err, ValidationError)
            else [str(err)]
        )
        return fail(args, ExitCode.USAGE, "InvalidInput", safe("; ".join(problems), limit=1000))
    session = Session(args)
    async with session as client:
        task_queue = session.settings.task_queue
        # A dry run needs its answer now; --wait needs a worker to follow.
        required = request.dry_run or args.wait
        await check_worker(client, task_queue, required=required, wait_seconds=args.worker_wait)
        if request.dry_run:
            return await _dry_run(client, request, args, task_queue)
        workflow_id = drain_workflow_id(request.host)
        return await start_and_finish(
            client,
            args,
            workflow_type=WorkflowType.DRAIN_HOST,
            request=request,
            workflow_id=workflow_id,
            result_type=DrainResult,
            task_queue=task_queue,
            summary=f"drain {request.host}",
            what="the drain",
        )


async def _dry_run(client: Any, request: Any, args: argparse.Namespace, task_queue: str) -> int:
    """Run ``DrainHost`` with ``dry_run`` under a throwaway id and print the plan it built."""
    import asyncio

    from temporalio.client import WorkflowFailureError
    from temporalio.exceptions import ApplicationError

    from watcher_temporal.cli.exit_codes import CommandError
    from watcher_temporal.cli.render import safe, terminal_width
    from watcher_temporal.cli.report import fail
    from watcher_temporal.cli.session import wait_timeout
    from watcher_temporal.contract import WORKFLOW_TASK_TIMEOUT, DrainResult, WorkflowType

    workflow_id = dry_run_workflow_id(request.host)
    timeout = min(wait_timeout(args, WorkflowType.DRAIN_HOST), DRY_RUN_TIMEOUT.total_seconds())
    try:
        handle = await client.start_workflow(
            WorkflowType.DRAIN_HOST.value,
            request,
            id=workflow_id,
            task_queue=task_queue,
            task_timeout=WORKFLOW_TASK_TIMEOUT,
            result_type=DrainResult,
            execution_timeout=timedelta(seconds=timeout),
            static_summary=f"dry run: drain plan of {request.host}",
        )
        result: DrainResult = await asyncio.wait_for(handle.result(), timeout=timeout + 5)
    except WorkflowFailureError as err:
        cause = err.cause
        if isinstance(cause, ApplicationError) and cause.type in REQUEST_ERRORS:
            return fail(args, ExitCode.USAGE, cause.type, safe(cause.message, limit=1000))
        return fail(args, ExitCode.FAILED, type(cause).__name__, safe(cause, limit=1000))
    except TimeoutError:
        await _terminate_quietly(client, workflow_id)
        raise CommandError(
            ExitCode.WAIT_TIMEOUT, "WaitTimeout", f"no plan after {timeout:g}s; dry run {workflow_id} terminated"
        ) from None
    except asyncio.CancelledError:
        await _terminate_quietly(client, workflow_id)
        raise
    doc = {"workflow_id": workflow_id, "outcome": "DRY_RUN", "exit_code": 0, **result.model_dump(mode="json")}
    _emit(args, doc, plan_lines(result, terminal_width(sys.stdout)))
    return ExitCode.SUCCESS


async def _terminate_quietly(client: Any, workflow_id: str) -> None:
    try:
        await client.get_workflow_handle(workflow_id).terminate(reason="dry run abandoned by the CLI")
    except Exception:  # noqa: BLE001 - it may have ended meanwhile; its execution timeout ends it anyway
        pass


def plan_lines(drain: Any, width: int) -> list[str]:
    """The plan as text for people: a head line, then one (wrapped) line per action and per server left behind."""
    from watcher_temporal.cli.render import safe, wrap

    plan = drain.plan
    head = (
        f"drain {safe(drain.host)}: {len(plan.actions)} actions, max_parallel {plan.max_parallel}, "
        f"max_parallel_per_host {plan.max_parallel_per_host}, on_failure {plan.on_failure.value}"
    )
    lines = wrap(head, width)
    for action in plan.actions:
        params = action.input_parameters
        if action.action_type.value == "migrate":
            what = (
                f"{safe(params.get('migration_type'))} {safe(params.get('resource_id'))} "
                f"({safe(params.get('resource_name') or '-')}) {safe(params.get('source_node'))} -> "
                f"{safe(params.get('destination_node') or '(scheduler)')}"
            )
        else:
            what = " ".join(f"{safe(k)}={safe(v)}" for k, v in params.items())
        after = f" after {', '.join(safe(p) for p in action.parents)}" if action.parents else ""
        lines += wrap(f"- {safe(action.id)} {action.action_type.value}: {what}{after}", width, indent="  ")
    for name, members in drain.exclusive_groups.items():
        lines += wrap(f"one at a time ({safe(name)}): {', '.join(safe(m) for m in members)}", width, indent="  ")
    for server in drain.left_behind:
        text = (
            f"left behind: {safe(server.resource_id)} ({safe(server.resource_name or '-')}) "
            f"{safe(server.status)}: {safe(server.reason)}"
        )
        lines += wrap(text, width, indent="  ")
    return lines


def _emit(args: argparse.Namespace, doc: dict[str, Any], lines: list[str]) -> None:
    if args.output == "json":
        json.dump(doc, sys.stdout)
        sys.stdout.write("\n")
    else:
        print("\n".join(lines))

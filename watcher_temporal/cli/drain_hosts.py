"""``watcher-temporal drain-hosts``: empty several compute hosts (a rack) at once, as one set.

    watcher-temporal drain-hosts HOST [HOST ...] [--no-live] [--no-cold] [--ignore-capacity]
                                 [--max-parallel N] [--max-parallel-per-host N]
                                 [--max-parallel-per-source N] [--max-parallel-per-destination N]
                                 [--on-failure continue|stop|rollback]
                                 [--dry-run] [--wait] [--wait-timeout S] [-o text|json]

One ``DrainHosts`` workflow does it on a worker (which holds the Nova
credentials): every host of the set is disabled before any server moves, so
no server goes to another host of the set; the servers must fit on the
enabled hosts outside the set (placement) and members of an anti-affinity
server group never move together, wherever in the set they are. The plan
carries the servers' flavor sizes: the longest migrations start first and
``watcher-temporal status`` shows an ETA. It runs as
``drain-hosts-<h1>+<h2>...`` (sorted), so a set is never drained twice at
once. ``--dry-run`` prints the plan and leaves nothing running.

Exit codes: 0 succeeded (or started, without ``--wait``; or dry run),
1 failed, 2 usage or invalid input (unknown host, no room...), 3 cancelled,
6 a drain of that set is already running, 7 no worker, 8 --wait-timeout.
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from datetime import timedelta
from typing import Any

from watcher_temporal.cli.drain_host import add_run_options
from watcher_temporal.cli.exit_codes import ExitCode
from watcher_temporal.cli.options import (
    DEFAULT_MAX_PARALLEL_PER_SOURCE,
    plain,
)

#: The exit codes ``drain-hosts`` can end with (its help lists them).
EXIT_CODES = (0, 1, 2, 3, 6, 7, 8, 130)

#: Execution timeout of a dry run: it only reads Nova, then ends.
DRY_RUN_TIMEOUT = timedelta(minutes=2)


def register(subparsers: Any) -> None:
    """Add the ``drain-hosts`` subcommand to the project CLI."""
    parser = subparsers.add_parser(
        "drain-hosts",
        help="empty several compute hosts at once (a rack), checks held across the set",
        description=plain(__doc__.split("\n\n")[2]) if __doc__ else None,
    )
    parser.add_argument("hosts", nargs="+", metavar="HOST", help="the hosts to drain (each once)")
    parser.add_argument("--no-live", action="store_true", help="never live-migrate (ACTIVE servers move cold)")
    parser.add_argument("--no-cold", action="store_true", help="never cold-migrate (SHUTOFF servers stay)")
    parser.add_argument(
        "--ignore-capacity", action="store_true", help="drain even when the servers do not fit outside the set"
    )
    parser.add_argument(
        "--max-parallel", type=int, default=None, help="migrations at once (default: hosts x max-parallel-per-source)"
    )
    parser.add_argument(
        "--max-parallel-per-host", type=int, default=None, help="migrations per host at once (default: max-parallel)"
    )
    parser.add_argument(
        "--max-parallel-per-source",
        type=int,
        default=DEFAULT_MAX_PARALLEL_PER_SOURCE,
        help="outbound migrations per drained host at once (default 1, Nova's max_concurrent_live_migrations)",
    )
    add_run_options(parser)


def request_from_args(args: argparse.Namespace) -> Any:
    """The request the flags describe.

    Raises:
        ValidationError: a value broke a rule.
    """
    from watcher_temporal.contract import OnFailure
    from watcher_temporal.contract.drain_hosts import DrainHostsRequest

    return DrainHostsRequest(
        hosts=args.hosts,
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


async def run(args: argparse.Namespace) -> int:
    """Start the set's ``DrainHosts`` workflow; print its plan (dry run), acknowledge it, or follow it."""
    from pydantic import ValidationError

    from watcher_temporal.cli.progress import start_and_finish
    from watcher_temporal.cli.render import safe
    from watcher_temporal.cli.report import fail
    from watcher_temporal.cli.session import Session
    from watcher_temporal.cli.workers import check_worker
    from watcher_temporal.contract import WorkflowType, describe_validation_error
    from watcher_temporal.contract.drain_hosts import DrainHostsResult
    from watcher_temporal.contract.names import drain_hosts_workflow_id

    try:
        request = request_from_args(args)
    except ValidationError as err:
        problems = [f"{p['field']}: {p['rule']}" for p in describe_validation_error(err)]
        return fail(args, ExitCode.USAGE, "InvalidInput", safe("; ".join(problems), limit=1000))
    session = Session(args)
    async with session as client:
        task_queue = session.settings.task_queue
        await check_worker(client, task_queue, required=request.dry_run or args.wait, wait_seconds=args.worker_wait)
        if request.dry_run:
            return await _dry_run(client, request, args, task_queue)
        return await start_and_finish(
            client,
            args,
            workflow_type=WorkflowType.DRAIN_HOSTS,
            request=request,
            workflow_id=drain_hosts_workflow_id(request.hosts),
            result_type=DrainHostsResult,
            task_queue=task_queue,
            summary=f"drain {len(request.hosts)} hosts: {', '.join(request.hosts)}"[:200],
            what="the drain",
        )


async def _dry_run(client: Any, request: Any, args: argparse.Namespace, task_queue: str) -> int:
    """Run ``DrainHosts`` with ``dry_run`` under a throwaway id and print the plan it built."""
    import asyncio

    from temporalio.client import WorkflowFailureError
    from temporalio.exceptions import ApplicationError

    from watcher_temporal.cli.drain_host import REQUEST_ERRORS, plan_lines
    from watcher_temporal.cli.exit_codes import CommandError
    from watcher_temporal.cli.render import safe, terminal_width
    from watcher_temporal.cli.report import fail
    from watcher_temporal.cli.session import wait_timeout
    from watcher_temporal.contract import WORKFLOW_TASK_TIMEOUT, DrainResult, WorkflowType
    from watcher_temporal.contract.drain_hosts import DrainHostsResult
    from watcher_temporal.contract.names import DRAIN_HOSTS_ID_PREFIX

    workflow_id = f"dry-run-{DRAIN_HOSTS_ID_PREFIX}{uuid.uuid4().hex[:8]}"
    timeout = min(wait_timeout(args, WorkflowType.DRAIN_HOSTS), DRY_RUN_TIMEOUT.total_seconds())
    try:
        handle = await client.start_workflow(
            WorkflowType.DRAIN_HOSTS.value,
            request,
            id=workflow_id,
            task_queue=task_queue,
            task_timeout=WORKFLOW_TASK_TIMEOUT,
            result_type=DrainHostsResult,
            execution_timeout=timedelta(seconds=timeout),
            static_summary=f"dry run: drain plan of {len(request.hosts)} hosts",
        )
        result: DrainHostsResult = await asyncio.wait_for(handle.result(), timeout=timeout + 5)
    except WorkflowFailureError as err:
        cause = err.cause
        if isinstance(cause, ApplicationError) and cause.type in REQUEST_ERRORS:
            return fail(args, ExitCode.USAGE, cause.type, safe(cause.message, limit=1000))
        return fail(args, ExitCode.FAILED, type(cause).__name__, safe(cause, limit=1000))
    except TimeoutError:
        raise CommandError(
            ExitCode.WAIT_TIMEOUT, "WaitTimeout", f"no plan after {timeout:g}s; dry run {workflow_id} ends by itself"
        ) from None
    doc = {"workflow_id": workflow_id, "outcome": "DRY_RUN", "exit_code": 0, **result.model_dump(mode="json")}
    if args.output == "json":
        json.dump(doc, sys.stdout)
        sys.stdout.write("\n")
        return ExitCode.SUCCESS
    as_drain = DrainResult(
        host=" ".join(result.hosts),
        dry_run=True,
        plan=result.plan,
        left_behind=result.left_behind,
        exclusive_groups=result.exclusive_groups,
    )
    lines = plan_lines(as_drain, terminal_width(sys.stdout))
    lines.append(f"destinations (outside the set): {', '.join(safe(h) for h in result.destinations) or 'none'}")
    print("\n".join(lines))
    return ExitCode.SUCCESS

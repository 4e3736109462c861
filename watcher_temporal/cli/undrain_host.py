"""``watcher-temporal undrain-host``: bring a drained host back into service.

    watcher-temporal undrain-host HOST [--move-back] [--max-parallel N]
                                  [--on-failure continue|stop|rollback|watcher]
                                  [--wait] [--wait-timeout S] [-o text|json]

One ``UndrainHost`` workflow (``undrain-HOST``) reads the host's drain
(``drain-HOST``) on a worker: it re-enables the host's nova-compute service
only if that drain disabled it (its disable action SUCCEEDED and the reason is
still ``watcher_maintaining``; otherwise the result says why not) and, with
``--move-back``, moves back the servers the drain moved that are still where
it put them, each the way it left (live or cold).

Exit codes: 0 succeeded (or started, without ``--wait``), 1 failed, 2 usage
or invalid input (unknown host, drain still running), 3 cancelled, 6 an
undrain of that host is already running, 7 no worker, 8 --wait-timeout.
"""

from __future__ import annotations

import argparse
from typing import Any

from watcher_temporal.cli.options import ON_FAILURE_CHOICES, ON_FAILURE_HELP, add_deadline_options, plain

#: Seconds between two status polls while ``--wait`` follows the undrain.
FOLLOW_INTERVAL = 2.0
#: The exit codes ``undrain-host`` can end with (its help lists them).
EXIT_CODES = (0, 1, 2, 3, 6, 7, 8, 130)


def register(subparsers: Any) -> None:
    """Add the ``undrain-host`` subcommand to the project CLI."""
    parser = subparsers.add_parser(
        "undrain-host",
        help="re-enable a drained host (only if its drain disabled it) and move its servers back",
        description=plain(__doc__.split("\n\n")[2]) if __doc__ else None,
    )
    add_arguments(parser)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of ``undrain-host``."""
    parser.add_argument("host", metavar="HOST", help="the drained host")
    parser.add_argument(
        "--move-back", action="store_true", help="move back the servers the drain moved (still where it put them)"
    )
    parser.add_argument("--max-parallel", type=int, default=4, help="migrations at once (default 4)")
    parser.add_argument(
        "--on-failure",
        choices=ON_FAILURE_CHOICES,
        default="stop",
        help=ON_FAILURE_HELP,
    )
    parser.add_argument("--wait", action="store_true", help="follow the undrain until it ends")
    parser.add_argument(
        "--progress-interval", type=float, default=FOLLOW_INTERVAL, help="seconds between progress updates with --wait"
    )
    add_deadline_options(parser)


async def run(args: argparse.Namespace) -> int:
    """Start the host's ``UndrainHost`` workflow; acknowledge it, or follow it."""
    from pydantic import ValidationError

    from watcher_temporal.cli.exit_codes import ExitCode
    from watcher_temporal.cli.progress import start_and_finish
    from watcher_temporal.cli.render import safe
    from watcher_temporal.cli.report import fail
    from watcher_temporal.cli.session import Session
    from watcher_temporal.cli.workers import check_worker
    from watcher_temporal.contract import (
        OnFailure,
        UndrainRequest,
        UndrainResult,
        WorkflowType,
        describe_validation_error,
        undrain_workflow_id,
    )

    try:
        request = UndrainRequest(
            host=args.host,
            move_back=args.move_back,
            max_parallel=args.max_parallel,
            on_failure=OnFailure(args.on_failure),
        )
    except ValidationError as err:
        problems = "; ".join(f"{p['field']}: {p['rule']}" for p in describe_validation_error(err))
        return fail(args, ExitCode.USAGE, "InvalidInput", safe(problems, limit=1000))
    session = Session(args)
    async with session as client:
        task_queue = session.settings.task_queue
        await check_worker(client, task_queue, required=args.wait, wait_seconds=args.worker_wait)
        workflow_id = undrain_workflow_id(request.host)
        return await start_and_finish(
            client,
            args,
            workflow_type=WorkflowType.UNDRAIN_HOST,
            request=request,
            workflow_id=workflow_id,
            result_type=UndrainResult,
            task_queue=task_queue,
            summary=f"undrain {request.host}" + (" and move back" if request.move_back else ""),
            what="the undrain",
        )

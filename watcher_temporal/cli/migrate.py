"""``watcher-temporal migrate SERVER --live|--cold --from HOST [--to HOST] [policy options] [--wait]``."""

from __future__ import annotations

import argparse
from typing import Any

from watcher_temporal.cli.options import add_wait_options

#: The exit codes ``migrate`` can end with (its help lists them).
EXIT_CODES = (0, 1, 2, 4, 5, 6, 7, 8, 9, 130)


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "migrate",
        help="live or cold migrate one server (a MigrateServer workflow)",
        description="Start a MigrateServer workflow (id migrate-<server uuid>); with --wait, follow it to the end.",
    )
    parser.add_argument("server", metavar="SERVER", help="server UUID (or name, when OS_CLOUD is set)")
    kind = parser.add_mutually_exclusive_group(required=True)
    kind.add_argument("--live", dest="migration_type", action="store_const", const="live", help="live migration")
    kind.add_argument("--cold", dest="migration_type", action="store_const", const="cold", help="cold migration")
    parser.add_argument("--from", dest="source", metavar="HOST", required=True, help="compute host it must be on")
    parser.add_argument("--to", dest="destination", metavar="HOST", help="destination host (default: scheduler)")
    parser.add_argument("--name", help="server name, informational (looked up when SERVER is a name)")
    parser.add_argument("--poll-interval", type=float, metavar="S", help="seconds between Nova polls (default 5)")
    parser.add_argument(
        "--timeout", type=float, metavar="S", help="seconds before the migration is aborted and reverted (default 900)"
    )
    parser.add_argument(
        "--completion-timeout-per-gib", type=float, metavar="S", help="live: seconds per GiB moved (default 800)"
    )
    parser.add_argument(
        "--progress-timeout", type=float, metavar="S", help="live: stalled after S s without progress (default off)"
    )
    parser.add_argument(
        "--on-timeout",
        choices=["abort", "force_complete"],
        help="live: what a completion or progress deadline does (default abort)",
    )
    parser.add_argument(
        "--block-migration", choices=["auto", "true", "false"], help="live: block migration (default auto)"
    )
    add_wait_options(parser, "the migration")
    return parser


def _params(args: argparse.Namespace, server_id: str, name: str | None) -> Any:
    """The workflow input the options describe (a ``MigrateServerInput``).

    Raises:
        UsageError: a value broke a rule (each field named).
    """
    from pydantic import ValidationError

    from watcher_temporal.cli.exit_codes import UsageError
    from watcher_temporal.contract import MigrateServerInput, describe_validation_error

    raw: dict[str, object] = {
        "resource_id": server_id,
        "migration_type": args.migration_type,
        "source_node": args.source,
        "destination_node": args.destination,
        "resource_name": args.name or name,
    }
    optional = {
        "poll_interval_seconds": args.poll_interval,
        "timeout_seconds": args.timeout,
        "completion_timeout_per_gib": args.completion_timeout_per_gib,
        "progress_timeout_seconds": args.progress_timeout,
        "on_timeout": args.on_timeout,
    }
    raw |= {key: value for key, value in optional.items() if value is not None}
    if args.block_migration is not None:
        raw["block_migration"] = {"auto": "auto", "true": True, "false": False}[args.block_migration]
    try:
        return MigrateServerInput.model_validate(raw)
    except ValidationError as err:
        problems = "; ".join(f"{p['field']}: {p['rule']}" for p in describe_validation_error(err))
        raise UsageError(f"invalid migration: {problems}") from None


async def run(args: argparse.Namespace) -> int:
    from watcher_temporal.cli.progress import finish
    from watcher_temporal.cli.servers import resolve_server
    from watcher_temporal.cli.session import Session, wait_timeout
    from watcher_temporal.cli.workers import check_worker
    from watcher_temporal.contract import WorkflowType

    server_id, name = await resolve_server(args.server)
    params = _params(args, server_id, name)
    args.wait_timeout = wait_timeout(args, WorkflowType.MIGRATE_SERVER, migration_timeout=params.timeout_seconds)
    session = Session(args)
    task_queue = session.settings.task_queue
    async with session as client:
        if args.wait:
            # No worker: refuse before starting, so nothing runs later unasked.
            await check_worker(client, task_queue, required=True, wait_seconds=args.worker_wait)
        started = await _start(client, args, params, task_queue)
        if isinstance(started, int):
            return started
        handle, report = started
        return await finish(
            client,
            handle,
            report,
            args,
            task_queue=task_queue,
            checked=args.wait,  # without --wait: started first, then warned (the start may need no worker to fail)
            accepted=f"started {handle.id} (run {handle.result_run_id})\n"
            f"  follow it: watcher-temporal status {handle.id} --wait",
            following=f"started {handle.id}; following (Ctrl-C stops following, not the migration)",
        )


async def _start(client: Any, args: argparse.Namespace, params: Any, task_queue: str) -> Any:
    """``(handle, report)`` of the started migration, or the exit code when it could not start."""
    import sys

    from temporalio.service import RPCError, RPCStatusCode

    from watcher_temporal.cli.exit_codes import CommandError, ExitCode
    from watcher_temporal.cli.render import safe
    from watcher_temporal.cli.report import Report, print_report
    from watcher_temporal.contract import WorkflowType
    from watcher_temporal.errors import MigrationAlreadyRunning
    from watcher_temporal.starter import start_migration

    try:
        handle = await start_migration(client, params, task_queue=task_queue)
    except MigrationAlreadyRunning as err:
        if args.output == "json":
            print_report(
                Report(
                    workflow_id=err.workflow_id,
                    run_id=err.run_id,
                    workflow_type=WorkflowType.MIGRATE_SERVER.value,
                    outcome="ALREADY_RUNNING",
                    exit_code=ExitCode.ALREADY_RUNNING,
                    error={"type": "MigrationAlreadyRunning", "message": str(err)},
                ),
                "json",
            )
        else:
            print(f"watcher-temporal: {safe(err)}", file=sys.stderr)
        return ExitCode.ALREADY_RUNNING
    except RPCError as err:
        if err.status == RPCStatusCode.INVALID_ARGUMENT and "search attribute" in err.message:
            raise CommandError(ExitCode.USAGE, "SearchAttributesMissing", missing_attributes_message(client)) from None
        raise
    report = Report(
        workflow_id=handle.id,
        run_id=handle.result_run_id,
        workflow_type=WorkflowType.MIGRATE_SERVER.value,
        task_queue=task_queue,
    )
    return handle, report


def missing_attributes_message(client: Any) -> str:
    """What to do when the namespace lacks the project's search attributes (nothing was started)."""
    return (
        f"namespace {client.namespace} does not know the project's search attributes yet, so nothing was started; "
        "start a worker once (`watcher-temporal-worker` registers them), or register them with "
        "`python -m watcher_temporal.search_attributes`, then run this again"
    )

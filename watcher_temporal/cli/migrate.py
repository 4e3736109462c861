"""``watcher-temporal migrate SERVER --live|--cold --from HOST [--to HOST] [policy options] [--wait]``."""

from __future__ import annotations

import argparse
import sys

from pydantic import ValidationError

from watcher_temporal.cli.exit_codes import ExitCode, UsageError
from watcher_temporal.cli.options import Session, add_wait_options, wait_timeout
from watcher_temporal.cli.progress import finish
from watcher_temporal.cli.render import safe
from watcher_temporal.cli.report import Report, print_report
from watcher_temporal.cli.servers import resolve_server
from watcher_temporal.cli.workers import check_worker
from watcher_temporal.contract import MigrateServerInput, WorkflowType, describe_validation_error
from watcher_temporal.errors import MigrationAlreadyRunning
from watcher_temporal.starter import start_migration


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
    parser.add_argument("--poll-interval", type=float, help="seconds between Nova polls (default 5)")
    parser.add_argument("--timeout", type=float, help="seconds before the migration is aborted and reverted")
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


def _params(args: argparse.Namespace, server_id: str, name: str | None) -> MigrateServerInput:
    raw: dict[str, object] = {
        "resource_id": server_id,
        "migration_type": args.migration_type,
        "source_node": args.source,
        "destination_node": args.destination,
        "resource_name": args.name or name,
    }
    if args.poll_interval is not None:
        raw["poll_interval_seconds"] = args.poll_interval
    if args.timeout is not None:
        raw["timeout_seconds"] = args.timeout
    if args.completion_timeout_per_gib is not None:
        raw["completion_timeout_per_gib"] = args.completion_timeout_per_gib
    if args.progress_timeout is not None:
        raw["progress_timeout_seconds"] = args.progress_timeout
    if args.on_timeout is not None:
        raw["on_timeout"] = args.on_timeout
    if args.block_migration is not None:
        raw["block_migration"] = {"auto": "auto", "true": True, "false": False}[args.block_migration]
    try:
        return MigrateServerInput.model_validate(raw)
    except ValidationError as err:
        problems = "; ".join(f"{p['field']}: {p['rule']}" for p in describe_validation_error(err))
        raise UsageError(f"invalid migration: {problems}") from None


async def run(args: argparse.Namespace) -> int:
    server_id, name = await resolve_server(args.server)
    params = _params(args, server_id, name)
    args.wait_timeout = wait_timeout(args, WorkflowType.MIGRATE_SERVER, migration_timeout=params.timeout_seconds)
    session = Session(args)
    async with session as client:
        # --wait with no worker: refuse before starting, so nothing runs later unasked.
        await check_worker(client, session.settings.task_queue, required=args.wait, wait_seconds=args.worker_wait)
        try:
            handle = await start_migration(client, params, task_queue=session.settings.task_queue)
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
        report = Report(
            workflow_id=handle.id, run_id=handle.result_run_id, workflow_type=WorkflowType.MIGRATE_SERVER.value
        )
        return await finish(
            client,
            handle,
            report,
            args,
            task_queue=session.settings.task_queue,
            checked=True,
            accepted=f"started {handle.id} (run {handle.result_run_id})\n"
            f"  follow it: watcher-temporal status {handle.id} --wait",
            following=f"started {handle.id}; following (Ctrl-C stops following, not the migration)",
        )

"""``watcher-temporal list``: migrations and plans, by server, host, plan or state."""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from typing import Any

from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from watcher_temporal.cli.exit_codes import UsageError
from watcher_temporal.cli.options import Session
from watcher_temporal.cli.render import safe, table, terminal_width
from watcher_temporal.contract import WorkflowType
from watcher_temporal.search_attributes import (
    DESTINATION_HOST,
    MIGRATION_TYPE,
    OUTCOME,
    PLAN_ID,
    SERVER_ID,
    SOURCE_HOST,
    keyword_values,
)

#: Values of ``--outcome``: what ``WatcherOutcome`` holds, and RUNNING (not set yet).
OUTCOMES = ("SUCCEEDED", "SKIPPED", "REVERTED", "CANCELLED", "FAILED", "RUNNING")


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "list",
        help="list migrations (and plans), newest first",
        description="List workflows through the project's search attributes (Temporal's visibility).",
    )
    parser.add_argument("--server", metavar="UUID", help="migrations of this server")
    parser.add_argument("--host", help="migrations from or to this host")
    parser.add_argument("--plan", metavar="ID", help="migrations of this plan")
    parser.add_argument("--type", dest="migration_type", choices=("live", "cold"), help="live or cold only")
    parser.add_argument("--running", action="store_true", help="running workflows only")
    parser.add_argument(
        "--outcome",
        type=str.upper,
        choices=OUTCOMES,
        help="workflows that ended so (WatcherOutcome), or RUNNING",
    )
    parser.add_argument("--all-types", action="store_true", help="every workflow type, not only MigrateServer")
    parser.add_argument("--query", help="extra visibility query, ANDed (e.g. 'StartTime > \"2026-01-01\"')")
    parser.add_argument("--limit", type=int, default=50, help="at most this many (default %(default)s)")
    return parser


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def build_query(args: argparse.Namespace) -> str:
    """The visibility query the options describe."""
    clauses = [] if args.all_types else [f"WorkflowType = {_quote(WorkflowType.MIGRATE_SERVER)}"]
    if args.server:
        try:
            server = str(uuid.UUID(args.server))
        except ValueError:
            raise UsageError(f"--server must be a server UUID (got {args.server!r})") from None
        clauses.append(f"{SERVER_ID.name} = {_quote(server)}")
    if args.host:
        clauses.append(f"({SOURCE_HOST.name} = {_quote(args.host)} OR {DESTINATION_HOST.name} = {_quote(args.host)})")
    if args.plan:
        clauses.append(f"{PLAN_ID.name} = {_quote(args.plan)}")
    if args.migration_type:
        clauses.append(f"{MIGRATION_TYPE.name} = {_quote(args.migration_type)}")
    if args.running:
        clauses.append('ExecutionStatus = "Running"')
    if args.outcome == "RUNNING":
        clauses.append('ExecutionStatus = "Running"')
    elif args.outcome:
        clauses.append(f"{OUTCOME.name} = {_quote(args.outcome)}")
    if args.query:
        clauses.append(f"({args.query})")
    return " AND ".join(clauses)


def outcome_of(status: str, attributes: dict[str, str]) -> str:
    """``WatcherOutcome``; RUNNING while it runs; else Temporal's status (TERMINATED...)."""
    if OUTCOME.name in attributes:
        return attributes[OUTCOME.name]
    return "RUNNING" if status == WorkflowExecutionStatus.RUNNING.name else status


async def run(args: argparse.Namespace) -> int:
    """List the matching workflows: a table fitted to the terminal, or one JSON document."""
    if args.limit < 1:
        raise UsageError("--limit must be at least 1")
    query = build_query(args)
    rows: list[dict[str, Any]] = []
    async with Session(args) as client:
        try:
            async for execution in client.list_workflows(query or None, limit=args.limit):
                status = execution.status.name if execution.status else "UNKNOWN"
                attributes = keyword_values(execution.typed_search_attributes)
                rows.append(
                    {
                        "workflow_id": execution.id,
                        "run_id": execution.run_id,
                        "workflow_type": execution.workflow_type,
                        "status": status,
                        "outcome": outcome_of(status, attributes),
                        "start_time": execution.start_time.isoformat(),
                        "close_time": execution.close_time.isoformat() if execution.close_time else None,
                        "search_attributes": attributes,
                    }
                )
        except RPCError as err:
            if err.status == RPCStatusCode.INVALID_ARGUMENT:
                raise UsageError(f"Temporal refused the query {safe(query)}: {safe(err.message)}") from None
            raise
    if args.output == "json":
        json.dump({"query": query, "workflows": rows}, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    if not rows:
        print(f"no workflows match: {safe(query)}", file=sys.stderr)
        return 0
    header = ("WORKFLOW ID", "OUTCOME", "TYPE", "FROM", "TO", "STARTED")
    cells = [
        (
            row["workflow_id"],
            row["outcome"],
            row["search_attributes"].get(MIGRATION_TYPE.name, row["workflow_type"]),
            row["search_attributes"].get(SOURCE_HOST.name, ""),
            row["search_attributes"].get(DESTINATION_HOST.name, ""),
            row["start_time"][:19],
        )
        for row in rows
    ]
    # Narrow terminals lose STARTED, then TO, then TYPE, then FROM; the id is cut last.
    for line in table(header, cells, terminal_width(sys.stdout), drop_order=(5, 4, 2, 3)):
        print(line)
    return 0

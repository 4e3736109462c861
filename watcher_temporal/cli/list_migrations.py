"""``watcher-temporal list``: migrations and plans, by server, host, plan or state."""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from typing import Any

from watcher_temporal.cli.exit_codes import UsageError
from watcher_temporal.cli.options import Session
from watcher_temporal.search_attributes import (
    DESTINATION_HOST,
    MIGRATION_TYPE,
    PLAN_ID,
    SERVER_ID,
    SOURCE_HOST,
    keyword_values,
)


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
    parser.add_argument("--all-types", action="store_true", help="every workflow type, not only MigrateServer")
    parser.add_argument("--query", help="extra visibility query, ANDed (e.g. 'StartTime > \"2026-01-01\"')")
    parser.add_argument("--limit", type=int, default=50, help="at most this many (default %(default)s)")
    return parser


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def build_query(args: argparse.Namespace) -> str:
    """The visibility query the options describe."""
    clauses = [] if args.all_types else ['WorkflowType = "MigrateServer"']
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
    if args.query:
        clauses.append(f"({args.query})")
    return " AND ".join(clauses)


async def run(args: argparse.Namespace) -> int:
    if args.limit < 1:
        raise UsageError("--limit must be at least 1")
    query = build_query(args)
    rows: list[dict[str, Any]] = []
    async with Session(args) as client:
        async for execution in client.list_workflows(query or None, limit=args.limit):
            rows.append(
                {
                    "workflow_id": execution.id,
                    "run_id": execution.run_id,
                    "workflow_type": execution.workflow_type,
                    "status": execution.status.name if execution.status else "UNKNOWN",
                    "start_time": execution.start_time.isoformat(),
                    "close_time": execution.close_time.isoformat() if execution.close_time else None,
                    "search_attributes": keyword_values(execution.typed_search_attributes),
                }
            )
    if args.output == "json":
        json.dump({"query": query, "workflows": rows}, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    if not rows:
        print(f"no workflows match: {query}", file=sys.stderr)
        return 0
    header = ("WORKFLOW ID", "STATUS", "TYPE", "FROM", "TO", "STARTED")
    table = [
        (
            row["workflow_id"],
            row["status"],
            row["search_attributes"].get(MIGRATION_TYPE.name, row["workflow_type"]),
            row["search_attributes"].get(SOURCE_HOST.name, ""),
            row["search_attributes"].get(DESTINATION_HOST.name, ""),
            row["start_time"][:19],
        )
        for row in rows
    ]
    widths = [max(len(str(r[i])) for r in [header, *table]) for i in range(len(header))]
    for row in [header, *table]:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    return 0

"""``watcher-temporal list``: migrations and plans, by server, host, plan or state."""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from typing import Any

from watcher_temporal.cli.exit_codes import UsageError

#: Values of ``--outcome``: what ``WatcherOutcome`` holds, and RUNNING (not set yet).
OUTCOMES = ("SUCCEEDED", "SKIPPED", "REVERTED", "CANCELLED", "FAILED", "RUNNING")
#: Longest ``--query`` taken.
MAX_QUERY_CHARS = 2000
#: Quotes of Temporal's visibility language (strings, and identifiers in backticks).
_QUOTES = frozenset("\"'`")
#: The exit codes ``list`` can end with (its help lists them).
EXIT_CODES = (0, 1, 2)


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
    parser.add_argument(
        "--query",
        help="extra visibility query, ANDed with the options above "
        "(e.g. 'StartTime > \"2026-01-01T00:00:00Z\"'); its parentheses and quotes must balance",
    )
    parser.add_argument("--limit", type=int, default=50, help="at most this many (default %(default)s)")
    return parser


def quote(value: str) -> str:
    """``value`` as a string literal of Temporal's visibility language."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def check_user_query(text: str) -> str:
    """``text``, if it is one self-contained expression that cannot escape the parentheses it is put in.

    Temporal's visibility queries have no parameter binding, so the user's
    query is wrapped, ``(filters) AND (query)``; a query whose parentheses
    or quotes do not balance could close the wrapper and OR itself around
    the filters. Such a query is refused.

    Raises:
        UsageError: empty, too long, a control character, an unterminated
            quote, or a ``)`` it did not open / a ``(`` it did not close.
    """
    if not text.strip():
        raise UsageError("--query is empty")
    if len(text) > MAX_QUERY_CHARS:
        raise UsageError(f"--query is longer than {MAX_QUERY_CHARS} characters")
    if any(ord(c) < 32 and c not in "\t\n" for c in text):
        raise UsageError("--query holds a control character")
    depth, quote_char, escaped = 0, "", False
    for char in text:
        if quote_char:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == quote_char:
                quote_char = ""
        elif char in _QUOTES:
            quote_char = char
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth < 0:
                raise UsageError("--query closes a parenthesis it did not open; its parentheses must balance")
    if quote_char:
        raise UsageError(f"--query has an unterminated {quote_char} quote")
    if depth:
        raise UsageError("--query opens a parenthesis it does not close; its parentheses must balance")
    return text.strip()


def build_query(args: argparse.Namespace) -> str:
    """The visibility query the options describe: every value quoted, the user's query kept inside its parentheses."""
    from watcher_temporal.contract import WorkflowType
    from watcher_temporal.search_attributes import (
        DESTINATION_HOST,
        MIGRATION_TYPE,
        OUTCOME,
        PLAN_ID,
        SERVER_ID,
        SOURCE_HOST,
    )

    clauses = [] if args.all_types else [f"WorkflowType = {quote(WorkflowType.MIGRATE_SERVER)}"]
    if args.server:
        try:
            server = str(uuid.UUID(args.server))
        except ValueError:
            raise UsageError(f"--server must be a server UUID (got {args.server!r})") from None
        clauses.append(f"{SERVER_ID.name} = {quote(server)}")
    if args.host:
        clauses.append(f"({SOURCE_HOST.name} = {quote(args.host)} OR {DESTINATION_HOST.name} = {quote(args.host)})")
    if args.plan:
        clauses.append(f"{PLAN_ID.name} = {quote(args.plan)}")
    if args.migration_type:
        clauses.append(f"{MIGRATION_TYPE.name} = {quote(args.migration_type)}")
    if args.running or args.outcome == "RUNNING":
        clauses.append('ExecutionStatus = "Running"')
    if args.outcome and args.outcome != "RUNNING":
        clauses.append(f"{OUTCOME.name} = {quote(args.outcome)}")
    if args.query is not None:
        clauses.append(f"({check_user_query(args.query)})")
    return " AND ".join(clauses)


async def run(args: argparse.Namespace) -> int:
    """List the matching workflows: a table fitted to the terminal (all columns into a pipe), or one JSON document."""
    from temporalio.service import RPCError, RPCStatusCode

    from watcher_temporal.cli.render import safe, table, terminal_width
    from watcher_temporal.cli.session import Session
    from watcher_temporal.search_attributes import DESTINATION_HOST, MIGRATION_TYPE, SOURCE_HOST

    if args.limit < 1:
        raise UsageError("--limit must be at least 1")
    query = build_query(args)
    async with Session(args) as client:
        try:
            rows = [_row(execution) async for execution in client.list_workflows(query or None, limit=args.limit)]
        except RPCError as err:
            if err.status == RPCStatusCode.INVALID_ARGUMENT:
                raise UsageError(f"Temporal refused the query {safe(query)}: {safe(err.message)}") from None
            raise
        await _fill_outcomes(client, rows)
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
    for line in table(header, cells, terminal_width(sys.stdout, cut=False), drop_order=(5, 4, 2, 3)):
        print(line)
    return 0


def _row(execution: Any) -> dict[str, Any]:
    from temporalio.client import WorkflowExecutionStatus

    from watcher_temporal.search_attributes import OUTCOME, keyword_values

    status = execution.status.name if execution.status else "UNKNOWN"
    attributes = keyword_values(execution.typed_search_attributes)
    outcome = attributes.get(OUTCOME.name) or ("RUNNING" if status == WorkflowExecutionStatus.RUNNING.name else status)
    return {
        "workflow_id": execution.id,
        "run_id": execution.run_id,
        "workflow_type": execution.workflow_type,
        "status": status,
        "outcome": outcome,
        "start_time": execution.start_time.isoformat(),
        "close_time": execution.close_time.isoformat() if execution.close_time else None,
        "search_attributes": attributes,
    }


async def _fill_outcomes(client: Any, rows: list[dict[str, Any]]) -> None:
    """Completed workflows that set no ``WatcherOutcome``: the outcome ``status`` shows, read from their result.

    Only the close event is read (a few at once), so a long plan costs no more than a short one.
    """
    import asyncio

    from watcher_temporal.cli.report import parse_result, result_outcome

    limit = asyncio.Semaphore(8)

    async def fill(row: dict[str, Any]) -> None:
        async with limit:
            try:
                raw = await client.get_workflow_handle(row["workflow_id"], run_id=row["run_id"]).result(
                    follow_runs=False
                )
            except Exception:  # noqa: BLE001 - Temporal's status stays the answer
                return
        outcome = result_outcome(parse_result(row["workflow_type"], raw))
        if outcome != "COMPLETED":
            row["outcome"] = outcome

    await asyncio.gather(*(fill(row) for row in rows if row["outcome"] == "COMPLETED"))

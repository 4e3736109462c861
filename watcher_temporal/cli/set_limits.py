"""``watcher-temporal set-limits ID --max-parallel-per-source N ...``: change a running plan's or drain's limits."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from watcher_temporal.cli.exit_codes import UsageError
from watcher_temporal.cli.options import MAX_PARALLEL_LIMIT, add_worker_wait_option

#: Workflow types that take ``set_limits`` (``WorkflowType`` values).
PLAN_TYPES = frozenset({"MaintenancePlan", "DrainHost", "DrainHosts"})
#: The exit codes ``set-limits`` can end with (its help lists them).
EXIT_CODES = (0, 1, 2, 7)
#: Command-line option → ``set_limits`` key.
OPTIONS = {
    "--max-parallel": "max_parallel",
    "--max-parallel-per-host": "max_parallel_per_host",
    "--max-parallel-per-source": "max_parallel_per_source",
    "--max-parallel-per-destination": "max_parallel_per_destination",
}


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "set-limits",
        help="change a running plan's or drain's limits (global, per host, per source, per destination)",
        description="Change the limits of a running MaintenancePlan or DrainHost (the set_limits update). "
        "Running actions go on; new ones start only while they fit. 0 lifts a per-source or "
        "per-destination limit.",
    )
    parser.add_argument("id", metavar="ID", help="workflow id of the running plan or drain (e.g. drain-host1)")
    for option, key in OPTIONS.items():
        lifts = key in ("max_parallel_per_source", "max_parallel_per_destination")
        parser.add_argument(
            option,
            dest=key,
            type=int,
            metavar="N",
            help=f"{'0 (no limit) or ' if lifts else ''}1 to {MAX_PARALLEL_LIMIT}",
        )
    add_worker_wait_option(parser)
    return parser


def change_from_args(args: argparse.Namespace) -> Any:
    """The ``set_limits`` request the options ask for.

    Raises:
        UsageError: no limit given, or a value out of range.
    """
    given = {key: getattr(args, key) for key in OPTIONS.values() if getattr(args, key) is not None}
    if not given:
        raise UsageError("give at least one of " + ", ".join(OPTIONS))
    problems = []
    for option, key in OPTIONS.items():
        value = given.get(key)
        low = 0 if key in ("max_parallel_per_source", "max_parallel_per_destination") else 1
        if value is not None and not low <= value <= MAX_PARALLEL_LIMIT:
            problems.append(f"{option} must be from {low} to {MAX_PARALLEL_LIMIT} (got {value})")
    if problems:
        raise UsageError("; ".join(problems))
    from watcher_temporal.contract import WindowLimitsChange

    return WindowLimitsChange.model_validate(given)


async def run(args: argparse.Namespace) -> int:
    from temporalio.client import WorkflowExecutionStatus, WorkflowUpdateFailedError

    from watcher_temporal.cli.render import safe
    from watcher_temporal.cli.report import describe
    from watcher_temporal.cli.session import Session
    from watcher_temporal.cli.workers import check_worker
    from watcher_temporal.contract import SET_LIMITS_UPDATE, WindowLimits

    change = change_from_args(args)
    if _is_uuid(args.id):
        raise UsageError(
            f"{safe(args.id)} is a server UUID; set-limits takes a running plan's or drain's id (drain-HOST)"
        )
    async with Session(args) as client:
        handle = client.get_workflow_handle(args.id)
        report = await describe(client, handle, ask_workflow=False)
        workflow_id = safe(report.workflow_id)
        if report.workflow_type not in PLAN_TYPES:
            raise UsageError(f"{workflow_id} is a {safe(report.workflow_type)}; only plans and drains have limits")
        if report.status != WorkflowExecutionStatus.RUNNING.name:
            raise UsageError(f"{workflow_id} is not running ({report.status}); its limits no longer matter")
        await check_worker(client, report.task_queue, required=True, wait_seconds=args.worker_wait)
        try:
            previous = await handle.execute_update(
                SET_LIMITS_UPDATE, change.model_dump(exclude_none=True), result_type=WindowLimits
            )
        except WorkflowUpdateFailedError as err:
            raise UsageError(f"{workflow_id} refused the limits: {safe(err.cause)}") from None
    now = previous.changed(change)
    if args.output == "json":
        doc = {
            "workflow_id": report.workflow_id,
            "outcome": "LIMITS_SET",
            "exit_code": 0,
            "previous": previous.model_dump(mode="json"),
            "limits": now.model_dump(mode="json"),
        }
        json.dump(doc, sys.stdout)
        sys.stdout.write("\n")
    else:
        print(f"{workflow_id}: limits set")
        for key in OPTIONS.values():
            before, after = getattr(previous, key), getattr(now, key)
            mark = "" if before == after else f" (was {_shown(before)})"
            print(f"  {key}: {_shown(after)}{mark}")
    return 0


def _is_uuid(text: str) -> bool:
    import uuid

    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def _shown(value: int | None) -> str:
    return "no limit" if value is None else str(value)

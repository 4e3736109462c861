"""``watcher-temporal timeline PLAN --html FILE``: a plan as one self-contained HTML picture.

Works for ``MaintenancePlan`` (Watcher's plans too) and ``DrainHost``/``DrainHosts``,
running or finished. The plan's ``status`` query gives its actions, limits and
ETA; each migration's own history gives its phases (the migrate activities,
scheduled to closed), its server, source and destination. Histories are read
``CHILD_READS`` at a time, at most :data:`MAX_CHILDREN` of them (larger plans
draw the rest without phases). :mod:`watcher_temporal.cli.timeline_html` draws it.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from watcher_temporal.cli.options import add_id_argument

#: The exit codes ``timeline`` can end with (its help lists them).
EXIT_CODES = (0, 1, 2, 7)
#: Migration histories read at once, and at most.
CHILD_READS = 8
MAX_CHILDREN = 2000

#: Phase of each migrate activity.
ACTIVITY_PHASES = {
    "migrate.pre_execute": "checks",
    "migrate.execute": "start",
    "migrate.wait_for_migration": "copy",
    "migrate.force_complete": "copy",
    "migrate.post_execute": "verify",
    "migrate.revert": "revert",
}
_OUTCOME_OF_STATE = {
    "SUCCEEDED": "succeeded",
    "SKIPPED": "skipped",
    "FAILED": "failed",
    "CANCELLED": "cancelled",
    "ONGOING": "running",
    "PENDING": "pending",
}


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "timeline",
        help="draw a plan as an HTML page: a lane per source host, a bar per action, its phases",
        description=(
            "Write a plan (MaintenancePlan, a Watcher plan, DrainHost) as one self-contained HTML file with an "
            "inline SVG timeline: one lane per source host, one bar per action split into its phases (checks, "
            "start, copy, verify, revert) and coloured by outcome, the reason on hover; the plan's limits, its "
            "ETA while it runs, its lower bound when known. The page loads nothing from anywhere."
        ),
    )
    add_id_argument(parser)
    parser.add_argument("--html", metavar="FILE", required=True, help="where to write the page ('-': stdout)")
    return parser


async def run(args: argparse.Namespace) -> int:
    from watcher_temporal.cli.render import safe
    from watcher_temporal.cli.session import Session, workflow_id_of
    from watcher_temporal.cli.timeline_html import render

    async with Session(args) as client:
        timeline = await gather(client, workflow_id_of(args.id))
    page = render(timeline)
    if args.html == "-":
        sys.stdout.write(page)
    else:
        await asyncio.to_thread(Path(args.html).write_text, page, encoding="utf-8")
        if args.output == "json":
            import json

            json.dump({"file": args.html, "plan": timeline.plan_id, "actions": len(timeline.bars)}, sys.stdout)
            sys.stdout.write("\n")
        else:
            print(f"{safe(timeline.plan_id)}: {len(timeline.bars)} actions drawn in {safe(args.html)}")
    return 0


async def gather(client: Any, plan_id: str) -> Any:
    """The :class:`~watcher_temporal.cli.timeline_html.Timeline` of ``plan_id``, read from Temporal."""
    from datetime import timedelta

    from temporalio.service import RPCError

    from watcher_temporal.cli.exit_codes import CommandError, ExitCode, UsageError
    from watcher_temporal.cli.timeline_html import Bar, Timeline
    from watcher_temporal.contract import DRAIN_ID_PREFIX, STATUS_QUERY, PlanStatus

    handle = client.get_workflow_handle(plan_id)
    try:
        description = await handle.describe()
    except RPCError as err:
        raise UsageError(f"no workflow {plan_id!r}: {err.message}") from None
    if description.workflow_type not in {"MaintenancePlan", "DrainHost", "DrainHosts"}:
        raise UsageError(f"{plan_id} is a {description.workflow_type}: timeline draws plans and drains")
    try:
        status: PlanStatus = await handle.query(STATUS_QUERY, result_type=PlanStatus, rpc_timeout=timedelta(seconds=10))
    except Exception as err:  # noqa: BLE001 - no worker answers, or the plan has no status yet
        raise CommandError(
            ExitCode.NO_WORKER, "NoWorker", f"{plan_id}: its status query got no answer (is a worker polling?): {err}"
        ) from None
    parameters = await _action_parameters(client, handle)
    children = [a.workflow_id for a in status.actions if a.workflow_id][:MAX_CHILDREN]
    gate = asyncio.Semaphore(CHILD_READS)
    migrations = dict(
        zip(children, await asyncio.gather(*(_migration(client, w, gate) for w in children)), strict=True)
    )
    # A drain's own actions (and its migrations not started yet) belong to the drained host: drain-<host>.
    drained = plan_id.removeprefix(DRAIN_ID_PREFIX) if description.workflow_type == "DrainHost" else None
    default_lane = drained or str(description.search_attributes.get("WatcherSourceHost", ["(plan)"])[0])
    bars = []
    for action in status.actions:
        child = migrations.get(action.workflow_id or "") or {}
        params = parameters.get(action.id, {})
        lane = child.get("source") or params.get("source_node") or params.get("resource_name") or default_lane
        outcome = child.get("outcome") or _OUTCOME_OF_STATE.get(action.state.value, "pending")
        rolled_back = f"{action.revert.value}: {action.revert_reason}" if action.revert else ""
        bars.append(
            Bar(
                action_id=action.id,
                action_type=action.action_type.value,
                lane=str(lane),
                outcome=outcome,
                reason=action.reason or child.get("reason", ""),
                server=child.get("server", "") or str(params.get("resource_id") or ""),
                destination=child.get("destination", "") or str(params.get("destination_node") or ""),
                final_host=child.get("final_host", ""),
                start=action.started_at,
                end=action.finished_at,
                phases=tuple(child.get("phases", ())),
                rolled_back=rolled_back,
            )
        )
    limits = {"max parallel": str(status.max_parallel), "max parallel per host": str(status.max_parallel_per_host)}
    if status.max_parallel_per_source is not None:
        limits["max parallel per source"] = str(status.max_parallel_per_source)
    if status.max_parallel_per_destination is not None:
        limits["max parallel per destination"] = str(status.max_parallel_per_destination)
    return Timeline(
        plan_id=plan_id,
        plan_type=description.workflow_type,
        state=status.state.value,
        now=datetime.now(UTC),
        started_at=status.started_at,
        finished_at=status.finished_at,
        limits=limits,
        eta_seconds=getattr(status, "eta_seconds", None),
        lower_bound_seconds=getattr(status, "lower_bound_seconds", None),
        reason=status.reason,
        bars=tuple(bars),
    )


async def _decoded(client: Any, payloads: Any) -> Any:
    values = await client.data_converter.decode(list(payloads.payloads)) if payloads.payloads else []
    return values[0] if values else None


async def _action_parameters(client: Any, handle: Any) -> dict[str, dict[str, Any]]:
    """Each action's ``input_parameters`` from the plan's input (its run's first event)."""
    async for event in handle.fetch_history_events():
        started = event.workflow_execution_started_event_attributes
        value = await _decoded(client, started.input)
        break
    else:
        return {}
    plan = value.get("plan", value) if isinstance(value, dict) else {}
    actions = plan.get("actions") if isinstance(plan, dict) else None
    if not isinstance(actions, list):
        return {}
    return {
        str(a.get("id")): a.get("input_parameters") or {}
        for a in actions
        if isinstance(a, dict) and isinstance(a.get("input_parameters") or {}, dict)
    }


async def _migration(client: Any, workflow_id: str, gate: asyncio.Semaphore) -> dict[str, Any]:
    """A migration's server, hosts, outcome and phases, from its history (empty if unreadable)."""
    from temporalio.api.enums.v1 import EventType
    from temporalio.service import RPCError

    from watcher_temporal.cli.timeline_html import Phase

    closed_events, ended_events = _event_tables()
    scheduled: dict[int, tuple[str, datetime]] = {}
    phases: list[Phase] = []
    found: dict[str, Any] = {}
    async with gate:
        try:
            async for event in client.get_workflow_handle(workflow_id).fetch_history_events():
                at = event.event_time.ToDatetime(tzinfo=UTC)
                kind = event.event_type
                if kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
                    params = await _decoded(client, event.workflow_execution_started_event_attributes.input) or {}
                    if isinstance(params, dict):
                        found["server"] = str(params.get("resource_id") or "")
                        found["source"] = str(params.get("source_node") or "")
                        found["destination"] = str(params.get("destination_node") or "")
                elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
                    name = event.activity_task_scheduled_event_attributes.activity_type.name
                    if name in ACTIVITY_PHASES:
                        scheduled[event.event_id] = (ACTIVITY_PHASES[name], at)
                elif kind in closed_events:
                    attrs = getattr(event, closed_events[kind])
                    opened = scheduled.pop(attrs.scheduled_event_id, None)
                    if opened:
                        failed = kind != EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED
                        phases.append(Phase(name=opened[0], start=opened[1], end=at, failed=failed))
                elif kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
                    result = await _decoded(client, event.workflow_execution_completed_event_attributes.result) or {}
                    if isinstance(result, dict):
                        found["outcome"] = str(result.get("status", "succeeded")).lower()
                        found["reason"] = str(result.get("reason") or "")
                        found["final_host"] = str(result.get("final_host") or "")
                elif kind in ended_events:
                    found["outcome"] = ended_events[kind]
        except RPCError:
            return {}
    phases += [Phase(name=name, start=start) for name, start in scheduled.values()]  # still running
    found["phases"] = tuple(sorted(phases, key=lambda p: p.start))
    return found


@functools.cache
def _event_tables() -> tuple[dict[Any, str], dict[Any, str]]:
    """Activity-closing events (name of their attributes) and workflow endings (outcome class)."""
    from temporalio.api.enums.v1 import EventType

    closed: dict[Any, str] = {
        EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED: "activity_task_completed_event_attributes",
        EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED: "activity_task_failed_event_attributes",
        EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT: "activity_task_timed_out_event_attributes",
        EventType.EVENT_TYPE_ACTIVITY_TASK_CANCELED: "activity_task_canceled_event_attributes",
    }
    ended: dict[Any, str] = {
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED: "failed",
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED: "cancelled",
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED: "failed",
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT: "failed",
    }
    return closed, ended

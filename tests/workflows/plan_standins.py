"""Stand-ins for ``MaintenancePlan`` tests on the time-skipping server.

* :class:`StandInMigrateServer` registers as ``MigrateServer``: it asks the
  recorder for its script (duration, outcome), sleeps on a timer (skipped by
  the test server) and reports entering and leaving, so the recorder knows
  how many migrations ran at once, globally and per host.
* :class:`PlanRecorder` holds the scripts, the concurrency maxima (global,
  per host either way, per source, per named destination), the moves,
  the compute services' states, and serves the stand-in activities.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from temporalio import activity, workflow

with workflow.unsafe.imports_passed_through():
    from pydantic import BaseModel

    from watcher_temporal.contract import (
        MigrateServerInput,
        MigrationResult,
        MigrationStatus,
        NopRequest,
        PlanActivity,
        RevertAction,
        RevertResult,
        ServerSize,
        ServerSnapshot,
        ServiceState,
        ServiceStateChange,
        ServiceStateRequest,
        Timings,
    )
    from watcher_temporal.contract.durations import SizesRequest, SizesResult
    from watcher_temporal.errors import PreconditionFailed

OK, REVERTED, PRECONDITION, SKIP = "ok", "reverted", "precondition", "skip"


class Script(BaseModel):
    """What one stand-in migration does (``revert``: what it records when cancelled, as MigrateServer does)."""

    seconds: float = 10.0
    outcome: str = OK
    final_host: str | None = None
    revert: RevertAction | None = None


class Leave(BaseModel):
    """A stand-in migration reports leaving (how, and where the server is)."""

    params: MigrateServerInput
    outcome: str
    cancelled: bool = False


@workflow.defn(name="MigrateServer")
class StandInMigrateServer:
    """Plays the recorder's script for one server instead of moving it."""

    @workflow.run
    async def run(self, params: MigrateServerInput) -> MigrationResult:
        script = await workflow.execute_activity(
            "standin.enter", params, result_type=Script, start_to_close_timeout=timedelta(seconds=10)
        )
        try:
            await workflow.sleep(timedelta(seconds=script.seconds))
        except asyncio.CancelledError:
            if script.revert is not None:
                where = ServerSnapshot(id=params.resource_id, status="ACTIVE", host=params.source_node)
                revert = RevertResult(action=script.revert, server=where)
                workflow.upsert_memo({"revert": revert.model_dump(mode="json")})
            await workflow.execute_activity(
                "standin.leave",
                Leave(params=params, outcome=script.outcome, cancelled=True),
                start_to_close_timeout=timedelta(seconds=10),
            )
            raise
        await workflow.execute_activity(
            "standin.leave", Leave(params=params, outcome=script.outcome), start_to_close_timeout=timedelta(seconds=10)
        )
        if script.outcome == PRECONDITION:
            raise PreconditionFailed(f"destination_node {params.destination_node!r}: its compute service is down")
        status = {OK: MigrationStatus.SUCCEEDED, REVERTED: MigrationStatus.REVERTED, SKIP: MigrationStatus.SKIPPED}[
            script.outcome
        ]
        moved = status is MigrationStatus.SUCCEEDED
        now = workflow.now()
        return MigrationResult(
            status=status,
            reason=f"stand-in {script.outcome}",
            resource_id=params.resource_id,
            migration_type=params.migration_type,
            source_node=params.source_node,
            destination_node=params.destination_node,
            final_host=(script.final_host or params.destination_node or "elsewhere") if moved else params.source_node,
            timings=Timings(started_at=now, finished_at=now, seconds=0),
        )


@dataclass
class PlanRecorder:
    """Scripts the stand-ins and records what they did."""

    scripts: dict[str, Script] = field(default_factory=dict)
    services: dict[str, tuple[ServiceState, str | None]] = field(default_factory=dict)
    running: int = 0
    max_running: int = 0
    host_load: Counter[str] = field(default_factory=Counter)
    max_host_load: Counter[str] = field(default_factory=Counter)
    source_load: Counter[str] = field(default_factory=Counter)
    max_source_load: Counter[str] = field(default_factory=Counter)
    destination_load: Counter[str] = field(default_factory=Counter)
    max_destination_load: Counter[str] = field(default_factory=Counter)
    entered: dict[str, int] = field(default_factory=dict)
    left: dict[str, int] = field(default_factory=dict)
    moves: list[tuple[str, str, str | None]] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    service_calls: list[tuple[str, str]] = field(default_factory=list)
    nops: int = 0
    events: list[str] = field(default_factory=list)
    sizes: dict[str, ServerSize] = field(default_factory=dict)
    size_reads: int = 0
    _clock: Any = field(default_factory=itertools.count)

    def server(
        self,
        seconds: float = 10.0,
        outcome: str = OK,
        final_host: str | None = None,
        revert: RevertAction | None = None,
    ) -> str:
        """A new server id with its script."""
        server_id = str(uuid.uuid4())
        self.scripts[server_id] = Script(seconds=seconds, outcome=outcome, final_host=final_host, revert=revert)
        return server_id

    @activity.defn(name="standin.enter")
    async def enter(self, params: MigrateServerInput) -> Script:
        hosts = _hosts(params)
        self.running += 1
        self.max_running = max(self.max_running, self.running)
        for host in hosts:
            self.host_load[host] += 1
            self.max_host_load[host] = max(self.max_host_load[host], self.host_load[host])
        self.source_load[params.source_node] += 1
        self.max_source_load[params.source_node] = max(
            self.max_source_load[params.source_node], self.source_load[params.source_node]
        )
        if params.destination_node:
            dest = params.destination_node
            self.destination_load[dest] += 1
            self.max_destination_load[dest] = max(self.max_destination_load[dest], self.destination_load[dest])
        self.entered.setdefault(params.resource_id, next(self._clock))
        return self.scripts.get(params.resource_id, Script())

    @activity.defn(name="standin.leave")
    async def leave(self, report: Leave) -> None:
        self.running -= 1
        self.host_load.subtract(_hosts(report.params))
        self.source_load[report.params.source_node] -= 1
        if report.params.destination_node:
            self.destination_load[report.params.destination_node] -= 1
        self.left[report.params.resource_id] = next(self._clock)
        if report.cancelled:
            self.cancelled.append(report.params.resource_id)
        elif report.outcome == OK:
            self.moves.append((report.params.resource_id, report.params.source_node, report.params.destination_node))
            self.events.append(f"move {report.params.source_node}->{report.params.destination_node}")

    @activity.defn(name=PlanActivity.CHANGE_SERVICE_STATE.value)
    async def change_service_state(self, request: ServiceStateRequest) -> ServiceStateChange:
        state, reason = self.services.get(request.host, (ServiceState.ENABLED, None))
        self.service_calls.append((request.host, request.state.value))
        self.events.append(f"{request.host} {request.state.value}")
        change = ServiceStateChange(
            host=request.host, previous_state=state, previous_disabled_reason=reason, changed=state != request.state
        )
        self.services[request.host] = (request.state, request.disabled_reason)
        return change

    @activity.defn(name=PlanActivity.NOP.value)
    async def nop(self, request: NopRequest) -> None:
        self.nops += 1

    @activity.defn(name=PlanActivity.MIGRATION_SIZES.value)
    async def migration_sizes(self, request: SizesRequest) -> SizesResult:
        """The sizes the test gave (none by default: the plan keeps plan order)."""
        self.size_reads += 1
        found = {s: self.sizes[s] for s in request.servers if s in self.sizes}
        return SizesResult(sizes=found, missing=len(request.servers) - len(found))

    def max_together(self, servers: list[str]) -> int:
        """Most of ``servers`` that ran at the same time (from the enter/leave order)."""
        edges = sorted(
            [(self.entered[s], 1) for s in servers if s in self.entered]
            + [(self.left[s], -1) for s in servers if s in self.left]
        )
        most = running = 0
        for _, step in edges:
            running += step
            most = max(most, running)
        return most

    def all(self) -> list[Callable[..., Any]]:
        return [self.enter, self.leave, self.change_service_state, self.nop, self.migration_sizes]


def _hosts(params: MigrateServerInput) -> set[str]:
    return {h for h in (params.source_node, params.destination_node) if h}

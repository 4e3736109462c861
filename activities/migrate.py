"""The activities of Watcher's ``migrate`` action: all its Nova I/O.

Each activity is idempotent: Temporal may run any of them twice (a retry
after a lost response, a worker that died mid-call), so each one first looks at
Nova and then acts only on what is still missing.

* ``pre_execute`` only reads.
* ``execute`` adopts a migration newer than the baseline recorded by
  ``pre_execute`` instead of starting a second one.
* ``wait_for_migration`` is one heartbeating loop (not an activity per poll);
  its heartbeat details carry what it saw, so a retry resumes from there.
* ``revert`` looks at the server before every step and records its plan in
  its heartbeat details, so repeating it never undoes its own work.

Blocking openstacksdk calls run in threads through
:func:`~watcher_temporal.activities.blocking.call_blocking`, which heartbeats
while they run and lets a cancel through only once the call has returned.
Progress is not signalled to the workflow (that would grow its history with
the migration's length): it lives in the wait activity's heartbeat details,
which readers get on demand from Temporal's description of the workflow.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from temporalio import activity

from watcher_temporal.contract import (
    DESTINATION_MICROVERSION,
    DeadlineAction,
    DeadlineKind,
    DeadlineOutcome,
    ExecuteRequest,
    ExecuteResult,
    ForceCompleteRequest,
    ForceCompleteResult,
    MigrateActivity,
    MigrateServerInput,
    MigrationProgressReport,
    MigrationType,
    OnTimeout,
    PostExecuteRequest,
    PreExecuteResult,
    RevertAction,
    RevertProgress,
    RevertResult,
    ServerSnapshot,
    TrackedMigration,
    WaitResult,
)
from watcher_temporal.errors import (
    MigrationFailed,
    MigrationTimedOut,
    NovaBusy,
    NovaRefused,
    NovaUnavailable,
    PreconditionFailed,
    RevertFailed,
)

from .blocking import call_blocking, cancel_requested, sleep_heartbeating
from .nova import (
    COLD_TASK_STATES,
    LIVE_TASK_STATES,
    NOVA_MIGRATION_TYPE,
    MigrationRecord,
    NovaGateway,
)
from .observer import NovaObserver, Observation, Watch, observe_directly

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: When ``execute`` looks for the migration record Nova's conductor writes after
#: the API accepted the request (the API answers 202 first): a fixed number of
#: looks, further and further apart, so a busy Nova gets no more requests per
#: migration than an idle one. A record not seen by then is found by the wait.
RECORD_LOOKS_AFTER_SECONDS = (0.5, 1.0, 2.0, 4.0)
#: Revert checks the server at most this often: an abort must be seen quickly.
REVERT_CHECK_SECONDS = 1.0
#: Longest a wait awaits the observer before it heartbeats and checks its deadline
#: (the poll interval when shorter, but at least 1 s): a slow observer tick never
#: lets three heartbeats go missing (the heartbeat timeout is at least 3 polls).
OBSERVER_WAKE_SECONDS = 4.0
#: Progress is logged at each tenth of the memory copied.
PROGRESS_LOG_STEP = 0.1
#: A progress deadline reads memory progress at least this many times per deadline.
PROGRESS_READS_PER_DEADLINE = 4
_MIB_PER_GIB = 1024
#: Nova's floor for the RAM, and for each local disk, in its completion timeout.
NOVA_MIN_GIB = 2.0

MOVING_TASK_STATES = LIVE_TASK_STATES | COLD_TASK_STATES
MOVING_STATUSES = frozenset({"MIGRATING", "RESIZE", "VERIFY_RESIZE", "REVERT_RESIZE"})
COLD_MIGRATABLE_STATUSES = frozenset({"ACTIVE", "SHUTOFF"})


def moved_as_requested(server: ServerSnapshot, params: MigrateServerInput) -> bool:
    """True when the server sits where the migration promised."""
    if params.destination_node is not None:
        return server.host == params.destination_node
    return server.host is not None and server.host != params.source_node


def newest_of_ours(
    records: list[MigrationRecord], params: MigrateServerInput, baseline: int | None
) -> MigrationRecord | None:
    """The newest record of this migration type created after ``baseline``."""
    wanted = NOVA_MIGRATION_TYPE[params.migration_type.value]
    for record in records:  # newest first
        if baseline is not None and int(record.id) <= baseline:
            return None
        if record.migration_type in (None, wanted):
            return record
    return None


def memory_copied(report: MigrationProgressReport) -> float | None:
    """Fraction of the memory copied so far, when Nova reports it."""
    if not report.memory_total_bytes or report.memory_remaining_bytes is None:
        return None
    return 1.0 - report.memory_remaining_bytes / report.memory_total_bytes


def worth_telling(previous: MigrationProgressReport, current: MigrationProgressReport) -> bool:
    """Whether ``current`` is worth a log line: a new Nova status or another tenth copied."""
    if current.nova_migration_status != previous.nova_migration_status:
        return True
    before, now = memory_copied(previous), memory_copied(current)
    if now is None:
        return False
    # Tell when a new step (a tenth) is crossed; the epsilon absorbs float error.
    return before is None or math.floor(now / PROGRESS_LOG_STEP + 1e-9) > math.floor(before / PROGRESS_LOG_STEP + 1e-9)


def judge(
    request: TrackedMigration, report: MigrationProgressReport, observation: Observation
) -> tuple[WaitResult | None, MigrationProgressReport, bool]:
    """Decide from one look at Nova: the result when it is over, the new report, whether to confirm.

    Raises:
        MigrationFailed: the server is gone or in ERROR, Nova marked the
            migration failed, or Nova finished with the server on its source.
    """
    params = request.params
    server = observation.server
    if server is None:
        raise MigrationFailed(f"server {params.resource_id} disappeared during the migration")
    update: dict[str, object] = {
        "polls": report.polls + 1,
        "server_status": server.status,
        "task_state": server.task_state,
        "host": server.host,
    }
    record = newest_of_ours(list(observation.records), params, request.baseline_migration_id)
    if report.migration_id is not None:
        record = next((r for r in observation.records if r.id == report.migration_id), record)
    running = record if params.migration_type is MigrationType.LIVE and record and not record.is_final else None
    if record is not None:
        update |= {
            "migration_id": record.id,
            "nova_migration_status": record.status,
            "memory_total_bytes": record.memory_total_bytes,
            "memory_processed_bytes": record.memory_processed_bytes,
            "memory_remaining_bytes": record.memory_remaining_bytes,
            # Kept once seen: os-migrations rows carry no disk figures.
            "disk_total_bytes": record.disk_total_bytes or report.disk_total_bytes,
        }
    report = report.model_copy(update=update)
    if record is not None and record.has_failed:
        raise MigrationFailed(f"Nova marked migration {record.id} {record.status}", report)
    if server.status == "ERROR":
        raise MigrationFailed("the server went to ERROR during the migration", report)
    if server.task_state is not None or running is not None:
        return None, report, False
    if params.migration_type is MigrationType.COLD and server.status == "VERIFY_RESIZE":
        return None, report, not report.resize_confirmed or report.polls % 5 == 0
    if moved_as_requested(server, params):
        if server.status == request.original.status:
            result = WaitResult(server=server, nova_migration_status=report.nova_migration_status, polls=report.polls)
            return result, report, False
        return None, report, False  # e.g. cold: confirmed, status not yet back
    if record is None or record.is_final:
        raise MigrationFailed(
            f"Nova finished with the server still on {server.host!r} "
            f"(migration {record.id + ' ' + record.status if record else 'record missing'})",
            report,
        )
    return None, report, False


def _now() -> datetime:
    return datetime.now(UTC)


def is_block_migration(request: TrackedMigration, report: MigrationProgressReport) -> bool:
    """Whether the disk moves too: asked for, or ``auto`` and Nova reports disk progress."""
    block = request.params.block_migration
    return block is True or (block == "auto" and bool(report.disk_total_bytes))


def completion_limit(request: TrackedMigration, report: MigrationProgressReport) -> float | None:
    """Seconds the size allows (``completion_timeout_per_gib`` x GiB), None without a size (cold, old runs).

    The GiB are counted as Nova's libvirt driver counts them
    (``_live_migration_data_gb``): the RAM, at least :data:`NOVA_MIN_GIB`, plus
    for a block migration the local disk, at least :data:`NOVA_MIN_GIB` when
    there is one. A 512 MiB server gets 1,600 s at 800 s/GiB, as in Nova.
    """
    if request.size is None or request.params.migration_type is not MigrationType.LIVE:
        return None
    gib = max(NOVA_MIN_GIB, request.size.memory_mib / _MIB_PER_GIB)
    if is_block_migration(request, report) and request.size.disk_gib > 0:
        gib += max(NOVA_MIN_GIB, request.size.disk_gib)
    return request.params.completion_timeout_per_gib * gib


def track_progress(report: MigrationProgressReport, now: datetime) -> MigrationProgressReport:
    """Remember when the memory remaining last went down (the progress deadline's clock).

    The clock starts at the first memory numbers Nova reports (a queued or
    preparing migration has none, and is not stalled).
    """
    remaining = report.memory_remaining_bytes
    if remaining is None:
        return report
    if report.least_remaining_bytes is None or remaining < report.least_remaining_bytes:
        return report.model_copy(update={"least_remaining_bytes": remaining, "progress_seen_at": now})
    return report


def soft_deadline_due(
    request: TrackedMigration, report: MigrationProgressReport, now: datetime
) -> tuple[DeadlineKind, float] | None:
    """The completion or progress deadline that has passed, with its length; None when none has.

    Neither fires twice: once one force-completed the migration, only
    ``timeout_seconds`` is left. A completion budget at or over
    ``timeout_seconds`` never fires here: ``timeout_seconds`` does.
    """
    params = request.params
    if params.migration_type is not MigrationType.LIVE or report.force_completed_at is not None:
        return None
    started = request.deadline - timedelta(seconds=params.timeout_seconds)
    limit = completion_limit(request, report)
    if limit is not None and limit < params.timeout_seconds and now >= started + timedelta(seconds=limit):
        return DeadlineKind.COMPLETION, limit
    stall = params.progress_timeout_seconds
    if stall is not None and report.progress_seen_at is not None:
        if now >= report.progress_seen_at + timedelta(seconds=stall):
            return DeadlineKind.PROGRESS, stall
    return None


def _deadline_text(kind: DeadlineKind, limit: float) -> str:
    if kind is DeadlineKind.PROGRESS:
        return f"progress deadline: the memory remaining did not decrease for {limit:g} s"
    if kind is DeadlineKind.COMPLETION:
        return f"completion deadline: not done within {limit:g} s (completion_timeout_per_gib x GiB)"
    return f"timeout deadline: not done within timeout_seconds ({limit:g} s)"


class MigrateActivities:
    """The migrate activities, bound to one Nova gateway.

    Args:
        nova: The gateway every Nova call goes through.
        observer: The worker's shared observer; the waits read Nova
            themselves (today's per-migration polling) without one.
    """

    def __init__(self, nova: NovaGateway, *, observer: NovaObserver | None = None) -> None:
        self._nova = nova
        self._observer = observer

    def all(self) -> list[Callable[..., object]]:
        """Every activity, for ``Worker(activities=...)``."""
        return [
            self.pre_execute,
            self.execute,
            self.wait_for_migration,
            self.post_execute,
            self.revert,
            self.force_complete,
        ]

    async def _call(self, fn: Callable[..., T], *args: object) -> T:
        return await call_blocking(fn, *args)

    # -- pre_execute -----------------------------------------------------

    @activity.defn(name=MigrateActivity.PRE_EXECUTE.value)
    async def pre_execute(self, params: MigrateServerInput) -> PreExecuteResult:
        """Check Watcher's preconditions; SKIP where Watcher skips, raise where it fails.

        Raises:
            PreconditionFailed: destination unknown, disabled or down; the
                compute API too old to name a destination; a task in progress;
                a live migration of a non-ACTIVE server; a cold migration of a
                server neither ACTIVE nor SHUTOFF.
        """
        return await self._call(self._pre_execute, params)

    def _pre_execute(self, params: MigrateServerInput) -> PreExecuteResult:
        nova = self._nova
        found = nova.get_server_with_size(params.resource_id)
        if found is None:
            return PreExecuteResult(skip_reason=f"server {params.resource_id} does not exist")
        server, size = found
        if server.host != params.source_node:
            return PreExecuteResult(
                server=server,
                skip_reason=f"server is on {server.host!r}, not on source_node {params.source_node!r}",
            )
        dest = params.destination_node
        if dest is not None:
            if not nova.supports_microversion(DESTINATION_MICROVERSION):
                raise PreconditionFailed(
                    f"naming destination_node needs compute API microversion >= {DESTINATION_MICROVERSION}; "
                    f"this cloud offers up to {nova.max_microversion()}"
                )
            service = nova.compute_service(dest)
            if service is None:
                raise PreconditionFailed(f"destination_node {dest!r} is not a nova-compute host of this cloud")
            if not service.enabled:
                reason = f" ({service.disabled_reason})" if service.disabled_reason else ""
                raise PreconditionFailed(f"destination_node {dest!r}: its compute service is disabled{reason}")
            if not service.up or service.forced_down:
                raise PreconditionFailed(f"destination_node {dest!r}: its compute service is down")
        if server.task_state:
            raise PreconditionFailed(f"server has a task in progress: task_state={server.task_state}")
        if params.migration_type is MigrationType.LIVE and server.status != "ACTIVE":
            raise PreconditionFailed(f"live migration needs an ACTIVE server; its status is {server.status}")
        if params.migration_type is MigrationType.COLD and server.status not in COLD_MIGRATABLE_STATUSES:
            raise PreconditionFailed(f"cold migration needs an ACTIVE or SHUTOFF server; its status is {server.status}")
        records = nova.migrations_of(params.resource_id)
        baseline = int(records[0].id) if records else None
        live = params.migration_type is MigrationType.LIVE
        return PreExecuteResult(server=server, baseline_migration_id=baseline, size=size if live else None)

    # -- execute ---------------------------------------------------------

    @activity.defn(name=MigrateActivity.EXECUTE.value)
    async def execute(self, request: ExecuteRequest) -> ExecuteResult:
        """Start the Nova migration, or adopt the one an earlier attempt started."""
        params = request.params
        adopted = await self._call(self._adopt, request)
        if adopted is not None:
            return adopted
        start: Callable[[str, str | None], None] = (
            functools.partial(self._nova.live_migrate, block_migration=params.block_migration)
            if params.migration_type is MigrationType.LIVE
            else self._nova.cold_migrate
        )
        _refuse_after_deadline(params)
        await self._call(start, params.resource_id, params.destination_node)
        activity.logger.info("started %s migration of %s", params.migration_type.value, params.resource_id)
        record = await self._await_record(params, request.baseline_migration_id)
        return ExecuteResult(migration_id=record.id if record else None)

    def _adopt(self, request: ExecuteRequest) -> ExecuteResult | None:
        """Return the migration already under way (or done), or None to start one."""
        params = request.params
        server = self._nova.get_server(params.resource_id)
        if server is None:
            raise MigrationFailed(f"server {params.resource_id} disappeared before the migration started")
        ours = newest_of_ours(self._nova.migrations_of(params.resource_id), params, request.baseline_migration_id)
        moved = server.host != params.source_node
        if ours is not None:
            activity.logger.info("adopting migration %s (status %s)", ours.id, ours.status)
            return ExecuteResult(migration_id=ours.id, adopted=True, already_moved=moved)
        if server.task_state in MOVING_TASK_STATES or server.status in MOVING_STATUSES:
            # The API marks the server before the conductor writes the record:
            # an earlier attempt's request is in flight. Let the retry find it.
            raise NovaBusy(f"server is {server.status}/{server.task_state} but its migration record is not written yet")
        if moved:
            raise MigrationFailed(
                f"server left source_node {params.source_node!r} for {server.host!r} without a migration of ours"
            )
        return None

    async def _await_record(self, params: MigrateServerInput, baseline: int | None) -> MigrationRecord | None:
        """Nova's record of the migration just requested, or None if not written yet (the wait finds it)."""
        for pause in RECORD_LOOKS_AFTER_SECONDS:
            await sleep_heartbeating(pause)
            ours = newest_of_ours(await self._call(self._nova.migrations_of, params.resource_id), params, baseline)
            if ours is not None:
                return ours
        return None

    # -- wait_for_migration (poll) ---------------------------------------

    @activity.defn(name=MigrateActivity.WAIT.value)
    async def wait_for_migration(self, request: TrackedMigration) -> WaitResult:
        """Wait until Nova finishes, heartbeating progress; confirm cold migrations.

        With the worker's :class:`~watcher_temporal.activities.observer.NovaObserver`
        the wait makes no Nova read of its own: it awaits the observer's next
        look at its server. Without one it reads Nova itself every poll.

        Deadlines (live migrations): the completion deadline (the size's
        budget, when shorter than ``timeout_seconds``) and the progress
        deadline (memory remaining not decreasing) either abort (raise) or,
        with ``on_timeout=force_complete``, force-complete once (recorded in
        the heartbeat details, so a retry does not ask again) and wait on.
        ``request.deadline`` (``timeout_seconds``) always raises.

        Raises:
            MigrationFailed: migration error/failed/cancelled, server ERROR,
                or the server left on its source.
            MigrationTimedOut: a deadline passed first; its details (the
                report) name it in ``deadline``.
        """
        report = _resumed_report(request)
        params = request.params
        live = params.migration_type is MigrationType.LIVE
        stall = params.progress_timeout_seconds
        watch = (
            self._observer.watch(
                params.resource_id,
                live=live,
                poll_interval=params.poll_interval_seconds,
                detail_every=stall / PROGRESS_READS_PER_DEADLINE if stall else None,
            )
            if self._observer
            else None
        )
        try:
            while True:
                previous = report
                observation = await self._look(watch, request, report)
                result = None
                if observation is not None:
                    result, report, confirm = judge(request, report, observation)
                    report = track_progress(report, _now())
                    if confirm:
                        report = await self._confirm(request, report)
                if result is None:
                    report = await self._on_soft_deadline(request, report)
                activity.heartbeat(report)
                if worth_telling(previous, report):
                    activity.logger.info(
                        "migration %s: %s, %s of memory copied",
                        report.migration_id or "?",
                        report.nova_migration_status or "?",
                        f"{memory_copied(report):.0%}" if memory_copied(report) is not None else "unknown",
                    )
                if result is not None:
                    return result.model_copy(update={"deadline": report.deadline})
                if _now() >= request.deadline:
                    raise _timed_out(params, report)
                if watch is None:
                    await sleep_heartbeating(params.poll_interval_seconds, details=(report,))
        finally:
            if watch is not None and self._observer is not None:
                self._observer.unwatch(watch)

    async def _on_soft_deadline(
        self, request: TrackedMigration, report: MigrationProgressReport
    ) -> MigrationProgressReport:
        """Act on a passed completion or progress deadline: raise (abort) or force-complete once.

        Raises:
            MigrationTimedOut: the deadline passed and ``on_timeout`` is ``abort``.
        """
        due = soft_deadline_due(request, report, _now())
        if due is None or cancel_requested():
            return report
        kind, limit = due
        params = request.params
        if params.on_timeout is OnTimeout.ABORT:
            outcome = DeadlineOutcome(deadline=kind, action=DeadlineAction.ABORTED, limit_seconds=limit)
            raise MigrationTimedOut(
                f"migration {report.migration_id or '?'} {report.nova_migration_status or 'running'}: "
                f"{_deadline_text(kind, limit)}; aborting",
                report.model_copy(update={"deadline": outcome}),
            )
        if report.migration_id is None or report.nova_migration_status != "running":
            return report  # Nova force-completes only a running copy; look again next poll
        try:
            await call_blocking(
                self._nova.force_complete_migration, params.resource_id, report.migration_id, details=(report,)
            )
        except (NovaBusy, NovaRefused, NovaUnavailable) as err:
            activity.logger.warning("force-complete at the %s deadline refused, will try again: %s", kind, err.message)
            return report
        activity.logger.info("migration %s: %s; force-completed", report.migration_id, _deadline_text(kind, limit))
        outcome = DeadlineOutcome(deadline=kind, action=DeadlineAction.FORCE_COMPLETED, limit_seconds=limit)
        report = report.model_copy(update={"force_completed_at": kind, "deadline": outcome})
        activity.heartbeat(report)  # recorded at once: a retry must not force-complete again
        return report

    async def _look(
        self, watch: Watch | None, request: TrackedMigration, report: MigrationProgressReport
    ) -> Observation | None:
        """The next look at the server: from the observer, or read here; None when there is none yet."""
        if watch is not None and self._observer is not None:
            wake = min(OBSERVER_WAKE_SECONDS, max(1.0, request.params.poll_interval_seconds))
            return await self._observer.next(watch, timeout=wake)
        live = request.params.migration_type is MigrationType.LIVE
        try:
            return await call_blocking(
                functools.partial(observe_directly, self._nova, request.params.resource_id, live=live),
                details=(report,),
            )
        except NovaUnavailable as err:
            # One bad poll does not end the wait; the deadline does.
            activity.logger.warning("poll failed, will poll again: %s", err.message)
            return None

    async def _confirm(self, request: TrackedMigration, report: MigrationProgressReport) -> MigrationProgressReport:
        """Confirm a cold migration in VERIFY_RESIZE, never after a cancel."""
        if cancel_requested():
            return report  # cancelled: the revert decides, the wait must not confirm
        try:
            await call_blocking(self._nova.confirm_resize, request.params.resource_id, details=(report,))
        except NovaBusy:
            pass  # a confirm is already under way; look again next poll
        except NovaUnavailable as err:
            activity.logger.warning("confirm failed, will try again: %s", err.message)
            return report
        return report.model_copy(update={"resize_confirmed": True})

    # -- force_complete (the workflow's update) ----------------------------

    @activity.defn(name=MigrateActivity.FORCE_COMPLETE.value)
    async def force_complete(self, request: ForceCompleteRequest) -> ForceCompleteResult:
        """Force-complete the server's running live migration (Nova pauses the guest for the final copy).

        Raises:
            NovaRefused: no live migration of the server is running (queued
                or preparing ones cannot be force-completed).
        """
        return await self._call(self._force_complete, request)

    def _force_complete(self, request: ForceCompleteRequest) -> ForceCompleteResult:
        in_progress = self._nova.in_progress_migrations(request.resource_id)
        ours = [r for r in in_progress if request.migration_id in (None, r.id)] or in_progress
        running = next((r for r in ours if r.status == "running"), None)
        if running is None:
            seen = ", ".join(f"{r.id} {r.status}" for r in ours) or "none in progress"
            raise NovaRefused(f"server {request.resource_id} has no running live migration to force-complete ({seen})")
        self._nova.force_complete_migration(request.resource_id, running.id)
        activity.logger.info("force-completed live migration %s of %s", running.id, request.resource_id)
        return ForceCompleteResult(migration_id=running.id, nova_migration_status=running.status)

    # -- post_execute ----------------------------------------------------

    @activity.defn(name=MigrateActivity.POST_EXECUTE.value)
    async def post_execute(self, request: PostExecuteRequest) -> ServerSnapshot:
        """Verify the end state: where promised, status as before, nothing in progress."""
        return await self._call(self._post_execute, request)

    def _post_execute(self, request: PostExecuteRequest) -> ServerSnapshot:
        params = request.params
        server = self._nova.get_server(params.resource_id)
        if server is None:
            raise MigrationFailed(f"server {params.resource_id} disappeared")
        problems = []
        if not moved_as_requested(server, params):
            where = params.destination_node or f"a host other than {params.source_node}"
            problems.append(f"server is on {server.host!r}, expected {where!r}")
        if server.status != request.original.status:
            problems.append(f"status is {server.status}, was {request.original.status}")
        if server.task_state:
            problems.append(f"task_state is {server.task_state}")
        if self._nova.in_progress_migrations(params.resource_id):
            problems.append("a migration is still in progress")
        if problems:
            raise MigrationFailed("end state check failed: " + "; ".join(problems))
        return server

    # -- revert (compensation) -------------------------------------------

    @activity.defn(name=MigrateActivity.REVERT.value)
    async def revert(self, request: TrackedMigration) -> RevertResult:
        """Put the server back on its source, whatever state the migration reached.

        Live migration running → abort it; cold in VERIFY_RESIZE → revert the
        resize; server already elsewhere → migrate it back with the same type;
        server on its source and idle → nothing to do. Safe to repeat.

        Raises:
            RevertFailed: the server went to ERROR, the move back failed, or
                the deadline passed.
        """
        details = activity.info().heartbeat_details
        progress = RevertProgress.model_validate(details[0]) if details else RevertProgress()
        interval = min(request.params.poll_interval_seconds, REVERT_CHECK_SECONDS)
        while True:
            try:
                result, progress = await call_blocking(self._revert_step, request, progress, details=(progress,))
            except NovaUnavailable as err:
                activity.logger.warning("revert step failed, will look again: %s", err.message)
                result = None
            except NovaRefused as err:
                # Nova refused a step for the state it saw (e.g. "Instance has not been
                # resized" because the resize was confirmed meanwhile): look again and
                # act on what is there now.
                activity.logger.warning("revert step refused, will look again: %s", err.message)
                result = None
            activity.heartbeat(progress)
            if result is not None:
                return result
            if _now() >= request.deadline:
                raise RevertFailed(
                    f"server not back on {request.params.source_node!r} by the revert deadline; "
                    f"steps so far: {'; '.join(progress.steps) or 'none'}",
                    progress,
                )
            await asyncio.sleep(interval)

    def _revert_step(
        self, request: TrackedMigration, progress: RevertProgress
    ) -> tuple[RevertResult | None, RevertProgress]:
        params, nova = request.params, self._nova
        source = params.source_node
        server = nova.get_server(params.resource_id)
        if server is None:
            raise RevertFailed(f"server {params.resource_id} disappeared", progress)
        if server.status == "ERROR":
            raise RevertFailed(f"server is in ERROR on {server.host!r}; needs an operator", progress)

        def step(text: str, **changes: object) -> RevertProgress:
            activity.logger.info("revert: %s", text)
            return progress.model_copy(update={"steps": [*progress.steps, text], **changes})

        if params.migration_type is MigrationType.LIVE and not progress.moving_back:
            for record in nova.in_progress_migrations(params.resource_id):
                if record.id not in progress.aborted:
                    try:
                        nova.abort_migration(params.resource_id, record.id)
                    except NovaBusy:
                        return None, progress  # not abortable this instant; look again
                    progress = step(f"aborted live migration {record.id}", aborted=[*progress.aborted, record.id])
        if server.task_state in MOVING_TASK_STATES:
            return None, progress  # Nova is still working (abort in flight, cold can't be aborted)
        if server.status == "VERIFY_RESIZE":
            if progress.moving_back:
                nova.confirm_resize(params.resource_id)
                return None, step("confirmed the move back to the source")
            nova.revert_resize(params.resource_id)
            return None, step("reverted the resize", resize_reverted=True)
        if server.host == source:
            if progress.moving_back and nova.in_progress_migrations(params.resource_id):
                return None, progress  # back on the source; Nova is still finishing the move back
            return RevertResult(
                action=_strongest(progress),
                steps=progress.steps or [f"nothing to revert: the server is idle on {source}"],
                server=server,
            ), progress
        if progress.moving_back:
            records = nova.migrations_of(params.resource_id)
            last = records[0] if records else None
            raise RevertFailed(
                f"moving the server back to {source!r} failed; it is on {server.host!r}"
                f" (migration {last.id + ' ' + last.status if last else 'unknown'})",
                progress,
            )
        if params.migration_type is MigrationType.LIVE:
            nova.live_migrate(params.resource_id, source, block_migration=params.block_migration)
        else:
            nova.cold_migrate(params.resource_id, source)
        return None, step(
            f"{params.migration_type.value}-migrating back from {server.host} to {source}", moving_back=True
        )


def _refuse_after_deadline(params: MigrateServerInput) -> None:
    """Send nothing once the activity's schedule-to-close deadline has passed.

    The workflow sets execute's schedule-to-close to the time left before the
    migration's ``timeout_seconds`` deadline, so an attempt that gets here late
    (a slow look at Nova, a retry that started at the last moment) gives up
    instead of starting a migration the workflow has stopped waiting for.

    Raises:
        MigrationTimedOut: the deadline has passed (non-retryable).
    """
    info = activity.info()
    if info.schedule_to_close_timeout is None:
        return
    scheduled = info.scheduled_time if info.scheduled_time.tzinfo else info.scheduled_time.replace(tzinfo=UTC)
    deadline = scheduled + info.schedule_to_close_timeout
    if _now() >= deadline:
        raise MigrationTimedOut(
            f"not started: the deadline to start the {params.migration_type.value} migration "
            f"passed at {deadline:%H:%M:%S} UTC (attempt {info.attempt}); nothing was sent to Nova"
        )


def _strongest(progress: RevertProgress) -> RevertAction:
    if progress.moving_back:
        return RevertAction.MIGRATED_BACK
    if progress.resize_reverted:
        return RevertAction.RESIZE_REVERTED
    if progress.aborted:
        return RevertAction.ABORTED
    return RevertAction.NOTHING_TO_DO


def _resumed_report(request: TrackedMigration) -> MigrationProgressReport:
    """The wait's report: where an earlier attempt got to (its heartbeat details), or a new one."""
    info = activity.info()
    details = info.heartbeat_details
    # The SDK hands heartbeat details over decoded, as plain JSON values.
    report = (
        MigrationProgressReport.model_validate(details[0])
        if details
        else MigrationProgressReport(migration_id=request.migration_id)
    )
    if details:
        activity.logger.info("resuming wait after %d polls (attempt %d)", report.polls, info.attempt)
    return report.model_copy(update={"attempt": info.attempt})


def _timed_out(params: MigrateServerInput, report: MigrationProgressReport) -> MigrationTimedOut:
    """``timeout_seconds`` passed while Nova still migrates: the error that aborts (its report names it)."""
    outcome = DeadlineOutcome(
        deadline=DeadlineKind.TIMEOUT,
        action=DeadlineAction.ABORTED,
        limit_seconds=params.timeout_seconds,
        force_completed_at=report.force_completed_at,
    )
    report = report.model_copy(update={"deadline": outcome})
    forced = (
        f" (force-completed at the {report.force_completed_at.value} deadline)" if report.force_completed_at else ""
    )
    return MigrationTimedOut(
        f"migration {report.migration_id or '?'} still {report.nova_migration_status or 'running'} "
        f"at the deadline ({params.timeout_seconds:g} s){forced}; "
        f"{_deadline_text(DeadlineKind.TIMEOUT, params.timeout_seconds)}; aborting",
        report,
    )

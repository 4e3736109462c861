"""``MigrateServer``: Watcher's Migrate action as a durable Temporal workflow.

    validate ─► pre_execute ─► execute ─► wait_for_migration ─► post_execute ─► SUCCEEDED
                    │             └──────────────┬──────────────────┘
                 SKIPPED          failure, timeout or cancellation
                 or FAILED                       ▼
                                     revert (compensation) ─► REVERTED / cancelled
                                                           └► RevertFailed

Workflow code only decides; every Nova call is an activity, called by name so
this module never imports openstacksdk. No clock but ``workflow.now()``, no
randomness, no I/O: the history replays to the same decisions.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, RetryState, TimeoutError, is_cancelled_exception

with workflow.unsafe.imports_passed_through():
    from pydantic import BaseModel, JsonValue

    from watcher_temporal.contract import (
        FORCE_COMPLETE_UPDATE,
        MAX_FORCE_COMPLETES,
        PROGRESS_QUERY,
        PROGRESS_SIGNAL,
        DeadlineOutcome,
        ExecuteRequest,
        ExecuteResult,
        ForceCompleteRequest,
        ForceCompleteResult,
        MigrateActivity,
        MigrateServerInput,
        MigrationProgress,
        MigrationProgressReport,
        MigrationResult,
        MigrationStatus,
        MigrationType,
        Phase,
        PostExecuteRequest,
        PreExecuteResult,
        RevertResult,
        ServerSnapshot,
        Timings,
        TrackedMigration,
        WaitResult,
        WorkflowType,
        migration_workflow_id,
        refuse_extra_arguments,
        validate_input,
    )
    from watcher_temporal.contract.patches import (
        CANCEL_AFTER_STEP_PATCH,
        CANONICAL_ID_PATCH,
        OUTCOME_PATCH,
        PROGRESS_SIGNAL_IGNORED_PATCH,
        START_DEADLINE_PATCH,
    )
    from watcher_temporal.errors import (
        InvalidInput,
        MigrationTimedOut,
        RevertFailed,
        describe_failure,
        from_failure,
    )
    from watcher_temporal.metrics import record_deadline, record_migration, record_revert, record_revert_failure
    from watcher_temporal.search_attributes import DESTINATION_HOST, OUTCOME, as_updates, migration_attributes

    from .activity_options import DEFAULT_RETRY_BUDGET, long_options, short_options

R = TypeVar("R", bound=BaseModel)


def parse_migrate_input(request: MigrateServerInput | JsonValue) -> MigrateServerInput:
    """Validate raw workflow input (see :func:`validate_input`)."""
    return validate_input(MigrateServerInput, request, what="MigrateServer input")


@workflow.defn(name=WorkflowType.MIGRATE_SERVER)
class MigrateServer:
    """Move one server between compute hosts, live or cold, and never lose it."""

    def __init__(self) -> None:
        self._progress = MigrationProgress()
        self._phase_started: datetime | None = None
        self._phases: dict[str, float] = {}
        self._migration_type = "unknown"
        self._force_completes = 0

    @workflow.query(name=PROGRESS_QUERY)
    def progress(self) -> MigrationProgress:
        """Phase, Nova migration status, memory remaining, attempts."""
        return self._progress

    @workflow.signal(name=PROGRESS_SIGNAL)
    def report_progress(self, report: MigrationProgressReport) -> None:
        """Ignored: kept so that histories recorded with it replay.

        The worker reports progress in its wait activity's heartbeat details,
        which only the worker holding the activity can write; a signal can come
        from anyone who may signal the workflow, so since
        ``PROGRESS_SIGNAL_IGNORED_PATCH`` it changes nothing the ``progress``
        query, the CLI or a decision (force-complete, revert) reads.
        """
        if workflow.patched(PROGRESS_SIGNAL_IGNORED_PATCH):
            workflow.logger.warning(
                "ignored a %s signal: progress comes only from the worker's wait activity", PROGRESS_SIGNAL
            )
            return
        self._update(
            migration_id=report.migration_id or self._progress.migration_id,
            nova_migration_status=report.nova_migration_status,
            memory_total_bytes=report.memory_total_bytes,
            memory_remaining_bytes=report.memory_remaining_bytes,
            attempts=self._progress.attempts | {MigrateActivity.WAIT.value: report.attempt},
        )

    @workflow.update(name=FORCE_COMPLETE_UPDATE)
    async def force_complete(self) -> ForceCompleteResult:
        """Force-complete the running live migration now (Nova pauses the guest for the final copy).

        Raises:
            NovaRefused: Nova has no running live migration of the server
                (queued or preparing ones cannot be force-completed).
        """
        self._force_completes += 1
        resource_id = self._progress.resource_id or ""
        result = await workflow.execute_activity(
            MigrateActivity.FORCE_COMPLETE.value,
            ForceCompleteRequest(resource_id=resource_id, migration_id=self._progress.migration_id),
            result_type=ForceCompleteResult,
            summary=f"force-complete live {resource_id}",
            **short_options(),
        )
        return result.model_copy(update={"force_completes": self._force_completes})

    @force_complete.validator
    def _force_complete_allowed(self) -> None:
        """Refuse a force-complete the migration cannot take (before anything is recorded)."""
        if self._migration_type != MigrationType.LIVE.value:
            raise InvalidInput(
                f"force_complete: only a live migration can be force-completed (this one is {self._migration_type})",
                [{"field": "(update)", "rule": "migration_type must be live"}],
            )
        if self._progress.phase is not Phase.WAITING:
            raise InvalidInput(
                f"force_complete: the migration is in phase {self._progress.phase.value}, "
                "not waiting for Nova's copy; nothing to force-complete",
                [{"field": "(update)", "rule": "phase must be waiting"}],
            )
        if self._force_completes >= MAX_FORCE_COMPLETES:
            raise InvalidInput(
                f"force_complete: already asked {self._force_completes} times (at most {MAX_FORCE_COMPLETES})",
                [{"field": "(update)", "rule": f"at most {MAX_FORCE_COMPLETES} per migration"}],
            )

    @workflow.run
    async def run(self, request: MigrateServerInput | JsonValue = None, *extra: JsonValue) -> MigrationResult:
        """Run the migration; see the module docstring for the flow.

        Every ending is counted in the project's metrics
        (:mod:`watcher_temporal.metrics`; not while replaying).

        Raises:
            InvalidInput: the input broke a rule (before any Nova call).
            PreconditionFailed: Watcher's preconditions do not hold.
            RevertFailed: the migration failed and the server could not be
                put back; names both causes.
        """
        try:
            refuse_extra_arguments("MigrateServer input", extra)
            result = await self._migrate(request)
            # A force_complete update still running gets its answer before the workflow ends
            # (no command: immediately true unless an update is in flight).
            await workflow.wait_condition(workflow.all_handlers_finished)
        except (Exception, asyncio.CancelledError) as err:
            cancelled = workflow.cancellation_reason() is not None and is_cancelled_exception(err)
            self._record_outcome("cancelled" if cancelled else "failed", revert_failed=isinstance(err, RevertFailed))
            raise
        self._record_outcome(result.status.value.lower(), deadline=result.deadline)
        return result

    def _record_outcome(
        self, outcome: str, *, deadline: DeadlineOutcome | None = None, revert_failed: bool = False
    ) -> None:
        """Count the ending in metrics and make it searchable (``WatcherOutcome``)."""
        seconds = (workflow.now() - workflow.info().start_time).total_seconds()
        meter = workflow.metric_meter()
        record_migration(meter, outcome=outcome, migration_type=self._migration_type, seconds=seconds)
        if deadline is not None:
            record_deadline(meter, deadline=deadline.deadline.value, action=deadline.action.value)
        if revert_failed:
            record_revert_failure(meter, migration_type=self._migration_type)
        if workflow.patched(OUTCOME_PATCH):
            workflow.upsert_search_attributes([OUTCOME.value_set(outcome.upper())])

    async def _migrate(self, request: MigrateServerInput | JsonValue) -> MigrationResult:
        started = workflow.now()
        params = parse_migrate_input(request)
        self._claim(params)
        dest = params.destination_node or "(scheduler)"
        what = f"{params.migration_type.value} {params.resource_id} {params.source_node}→{dest}"
        # timeout_seconds bounds the whole migration from its start: the checks and every
        # attempt to start it too (histories recorded before the patch had no such bound).
        deadline = (
            started + timedelta(seconds=params.timeout_seconds) if workflow.patched(START_DEADLINE_PATCH) else None
        )
        pre = await self._check(params, what, deadline)
        if pre.skip_reason is not None or pre.server is None:
            return self._result(params, started, MigrationStatus.SKIPPED, pre.skip_reason or "skipped", pre.server)
        return await self._move(params, pre, pre.server, what, started, deadline)

    def _claim(self, params: MigrateServerInput) -> None:
        """Check the workflow id, then make the migration findable by server and hosts."""
        if workflow.patched(CANONICAL_ID_PATCH):
            expected = migration_workflow_id(params.resource_id)
            if workflow.info().workflow_id != expected:
                raise InvalidInput(
                    f"a migration of server {params.resource_id} runs only as workflow {expected!r} "
                    f"(not {workflow.info().workflow_id[:120]!r}), so one server is never moved twice at once",
                    [{"field": "(workflow id)", "rule": f"must be {expected}"}],
                )
        self._update(resource_id=params.resource_id)
        self._migration_type = params.migration_type.value
        # Findable by server and host even when started without the attributes
        # (``temporal workflow start``, a parent); the namespace must define them.
        workflow.upsert_search_attributes(
            as_updates(
                migration_attributes(
                    server_id=params.resource_id,
                    source_host=params.source_node,
                    destination_host=params.destination_node,
                    migration_type=params.migration_type.value,
                )
            )
        )

    async def _check(self, params: MigrateServerInput, what: str, deadline: datetime | None) -> PreExecuteResult:
        """pre_execute: Watcher's preconditions, within the migration's deadline; nothing moves yet."""
        try:
            return await self._step(
                Phase.PRE_EXECUTE,
                MigrateActivity.PRE_EXECUTE,
                params,
                PreExecuteResult,
                f"check {what}",
                _start_options(deadline, params, "the checks"),
            )
        except ActivityError as err:
            if is_cancelled_exception(err):
                raise  # cancelled before anything moved: nothing to revert
            if deadline is not None and _ran_out_of_time(err):
                raise _not_started(params, "the migration started", err) from None
            raise from_failure(err) from None

    async def _move(
        self,
        params: MigrateServerInput,
        pre: PreExecuteResult,
        original: ServerSnapshot,
        what: str,
        started: datetime,
        deadline: datetime | None,
    ) -> MigrationResult:
        """execute, wait, post_execute; the compensation on failure, deadline or cancel."""
        start_options = _start_options(deadline, params, "the migration started")  # nothing sent yet if it raises
        # From here on Nova may change: the compensation is armed before execute.
        executed: ExecuteResult | None = None
        try:
            executed = await self._step(
                Phase.EXECUTE,
                MigrateActivity.EXECUTE,
                ExecuteRequest(params=params, original=original, baseline_migration_id=pre.baseline_migration_id),
                ExecuteResult,
                f"start {what}",
                start_options,
            )
            self._update(migration_id=executed.migration_id)
            wait_deadline, budget = _wait_deadline(deadline, params)
            waited = await self._step(
                Phase.WAITING,
                MigrateActivity.WAIT,
                TrackedMigration(
                    params=params,
                    original=original,
                    migration_id=executed.migration_id,
                    baseline_migration_id=pre.baseline_migration_id,
                    deadline=wait_deadline,
                    size=pre.size,
                ),
                WaitResult,
                f"wait for {what}",
                long_options(budget, params.poll_interval_seconds),
            )
            final = await self._step(
                Phase.POST_EXECUTE,
                MigrateActivity.POST_EXECUTE,
                PostExecuteRequest(params=params, original=original),
                ServerSnapshot,
                f"verify {what}",
            )
        except (ActivityError, asyncio.CancelledError) as err:
            # A cancel of the workflow reaches us as CancelledError or as the
            # running activity's cancellation; inner cancels are not ours to handle.
            cancelled = workflow.cancellation_reason() is not None and is_cancelled_exception(err)
            if isinstance(err, asyncio.CancelledError) and not cancelled:
                raise
            cause = describe_failure(err)
            if deadline is not None and executed is None and isinstance(err, ActivityError) and _ran_out_of_time(err):
                cause = (
                    f"timeout_seconds ({params.timeout_seconds:g} s) passed before Nova accepted the migration: {cause}"
                )
            self._update(error=cause)
            migration_id = executed.migration_id if executed else self._progress.migration_id
            revert = await self._revert(params, original, migration_id, pre.baseline_migration_id, cause, what)
            if cancelled:
                workflow.logger.info("cancelled; reverted: %s", "; ".join(revert.steps))
                raise
            return self._result(
                params,
                started,
                MigrationStatus.REVERTED,
                f"{cause}; reverted: {'; '.join(revert.steps)}",
                revert.server,
                migration_id=migration_id,
                revert=revert,
                deadline=_deadline_of(err),
            )
        return self._succeeded(params, started, executed, waited, final)

    def _succeeded(
        self,
        params: MigrateServerInput,
        started: datetime,
        executed: ExecuteResult,
        waited: WaitResult,
        final: ServerSnapshot,
    ) -> MigrationResult:
        verb = "moved" if final.host != params.source_node else "stayed"
        if params.destination_node is None and final.host and final.host != params.source_node:
            # The scheduler chose: make the migration findable by where it went.
            workflow.upsert_search_attributes([DESTINATION_HOST.value_set(final.host)])
        return self._result(
            params,
            started,
            MigrationStatus.SUCCEEDED,
            f"{verb} from {params.source_node} to {final.host} ({params.migration_type.value}, "
            f"Nova migration {executed.migration_id or '?'} {waited.nova_migration_status or 'done'})"
            + (
                f"; force-completed at the {waited.deadline.deadline.value} deadline"
                f" ({waited.deadline.limit_seconds:g} s)"
                if waited.deadline
                else ""
            ),
            final,
            migration_id=executed.migration_id,
            deadline=waited.deadline,
        )

    async def _revert(
        self,
        params: MigrateServerInput,
        original: ServerSnapshot,
        migration_id: str | None,
        baseline: int | None,
        cause: str,
        what: str,
    ) -> RevertResult:
        """Run the compensation; on failure raise one error naming both causes.

        It is shielded: a cancellation that triggered it must not cancel it.
        """
        budget = timedelta(seconds=params.revert_timeout_seconds)
        deadline = workflow.now() + budget
        request = TrackedMigration(
            params=params,
            original=original,
            migration_id=migration_id,
            baseline_migration_id=baseline,
            deadline=deadline,
        )
        try:
            revert = await asyncio.shield(
                asyncio.ensure_future(
                    self._step(
                        Phase.REVERTING,
                        MigrateActivity.REVERT,
                        request,
                        RevertResult,
                        f"revert {what}",
                        long_options(budget, params.poll_interval_seconds),
                    )
                )
            )
        except ActivityError as revert_err:
            self._update(phase=Phase.DONE)
            raise RevertFailed(
                f"{cause}; and the revert failed: {describe_failure(revert_err)}",
                {"cause": cause, "revert_error": describe_failure(revert_err)},
            ) from None
        self._update(revert=revert, phase=Phase.DONE)
        record_revert(workflow.metric_meter(), action=revert.action.value, migration_type=params.migration_type.value)
        workflow.upsert_memo({"revert": revert.model_dump(mode="json")})
        return revert

    async def _step(
        self,
        phase: Phase,
        name: MigrateActivity,
        arg: BaseModel,
        result_type: type[R],
        summary: str,
        options: dict[str, Any] | None = None,
    ) -> R:
        """Run one activity as one phase (short options unless given)."""
        self._enter(phase)
        attempts = self._progress.attempts | {name.value: self._progress.attempts.get(name.value, 0) + 1}
        self._update(attempts=attempts)
        result = await workflow.execute_activity(
            name.value, arg, result_type=result_type, summary=summary, **(options or short_options())
        )
        # An activity that finished before it saw the cancel returns normally and the
        # cancel would be lost: before anything has finished moving, honour it here.
        if (
            phase in (Phase.PRE_EXECUTE, Phase.EXECUTE)
            and workflow.cancellation_reason() is not None
            and workflow.patched(CANCEL_AFTER_STEP_PATCH)
        ):
            raise asyncio.CancelledError()
        return result

    def _enter(self, phase: Phase) -> None:
        now = workflow.now()
        if self._phase_started is not None:
            previous = self._progress.phase.value
            self._phases[previous] = self._phases.get(previous, 0.0) + (now - self._phase_started).total_seconds()
        self._phase_started = now
        self._update(phase=phase)

    def _update(self, **changes: Any) -> None:
        self._progress = self._progress.model_copy(update=changes)

    def _result(
        self,
        params: MigrateServerInput,
        started: datetime,
        status: MigrationStatus,
        reason: str,
        server: ServerSnapshot | None,
        *,
        migration_id: str | None = None,
        revert: RevertResult | None = None,
        deadline: DeadlineOutcome | None = None,
    ) -> MigrationResult:
        self._enter(Phase.DONE)
        finished = workflow.now()
        return MigrationResult(
            status=status,
            reason=reason,
            resource_id=params.resource_id,
            resource_name=params.resource_name or (server.name if server else None),
            migration_type=params.migration_type,
            source_node=params.source_node,
            destination_node=params.destination_node,
            final_host=server.host if server else None,
            migration_id=migration_id,
            revert=revert,
            timings=Timings(
                started_at=started,
                finished_at=finished,
                seconds=(finished - started).total_seconds(),
                phases=dict(self._phases),
            ),
            deadline=deadline,
            force_completes=self._force_completes,
        )


def _start_options(deadline: datetime | None, params: MigrateServerInput, what: str) -> dict[str, Any] | None:
    """Options of a step before the migration runs: retried only until the migration's deadline.

    Raises:
        MigrationTimedOut: the deadline has passed already (the step is not run).
    """
    if deadline is None:  # histories recorded before START_DEADLINE_PATCH
        return None
    left = deadline - workflow.now()
    if left <= timedelta(0):
        raise MigrationTimedOut(
            f"timeout_seconds ({params.timeout_seconds:g} s) passed before {what}; nothing was sent to Nova"
        )
    return short_options(retry_budget=min(DEFAULT_RETRY_BUDGET, left))


def _wait_deadline(deadline: datetime | None, params: MigrateServerInput) -> tuple[datetime, timedelta]:
    """The wait's deadline and the time left until it (from execute's end for old histories)."""
    if deadline is None:
        budget = timedelta(seconds=params.timeout_seconds)
        return workflow.now() + budget, budget
    return deadline, max(deadline - workflow.now(), timedelta(0))


def _ran_out_of_time(err: ActivityError) -> bool:
    """True when the activity stopped at the migration's deadline.

    Its retry budget (the time left) ran out, or an attempt that began at the
    last moment refused to send anything (``MigrationTimedOut`` from execute).
    """
    if isinstance(err.cause, TimeoutError) or err.retry_state is RetryState.TIMEOUT:
        return True
    return isinstance(err.cause, ApplicationError) and err.cause.type == "MigrationTimedOut"


def _not_started(params: MigrateServerInput, what: str, err: ActivityError) -> MigrationTimedOut:
    return MigrationTimedOut(
        f"timeout_seconds ({params.timeout_seconds:g} s) passed before {what}: {describe_failure(err)}"
    )


def _deadline_of(err: BaseException) -> DeadlineOutcome | None:
    """The deadline a ``MigrationTimedOut`` of the wait names in its details, if any."""
    cause = err.cause if isinstance(err, ActivityError) else None
    if not isinstance(cause, ApplicationError) or cause.type != "MigrationTimedOut" or not cause.details:
        return None
    report = cause.details[0]
    if not isinstance(report, dict) or not isinstance(report.get("deadline"), dict):
        return None
    try:
        return DeadlineOutcome.model_validate(report["deadline"])
    except ValueError:
        return None

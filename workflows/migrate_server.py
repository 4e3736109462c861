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
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, TimeoutError, is_cancelled_exception

with workflow.unsafe.imports_passed_through():
    from pydantic import BaseModel, JsonValue

    from watcher_temporal.errors import (
        NON_RETRYABLE_ERROR_TYPES,
        PreconditionFailed,
        RevertFailed,
        WatcherTemporalError,
    )
    from watcher_temporal.metrics import record_migration, record_revert
    from watcher_temporal.models import (
        PROGRESS_QUERY,
        PROGRESS_SIGNAL,
        ExecuteRequest,
        ExecuteResult,
        MigrateActivity,
        MigrateServerInput,
        MigrationProgress,
        MigrationProgressReport,
        MigrationResult,
        MigrationStatus,
        Phase,
        PostExecuteRequest,
        PreExecuteResult,
        RevertRequest,
        RevertResult,
        ServerSnapshot,
        Timings,
        WaitRequest,
        WaitResult,
        validate_input,
    )
    from watcher_temporal.search_attributes import DESTINATION_HOST, as_updates, migration_attributes

R = TypeVar("R", bound=BaseModel)

#: Retries for the short activities: transient Nova trouble, worker restarts.
SHORT_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=8,
    non_retryable_error_types=list(NON_RETRYABLE_ERROR_TYPES),
)
#: Retries for the long, heartbeating activities: bounded by schedule-to-close.
LONG_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=10),
    non_retryable_error_types=list(NON_RETRYABLE_ERROR_TYPES),
)
SHORT_TIMEOUT = timedelta(seconds=60)
EXECUTE_TIMEOUT = timedelta(seconds=120)
#: Slack given to the long activities beyond their own deadline: the activity
#: raises MigrationTimedOut itself; Temporal's timeouts are the safety net.
LONG_SLACK = timedelta(seconds=120)


def short_options(start_to_close: timedelta = SHORT_TIMEOUT) -> dict[str, Any]:
    """Options of a short activity: one Nova look or request, retried."""
    return {"start_to_close_timeout": start_to_close, "retry_policy": SHORT_RETRY}


def long_options(deadline_in: timedelta, poll_interval_seconds: float) -> dict[str, Any]:
    """Options of a heartbeating activity that works until its own deadline.

    It heartbeats once per poll interval, so three missed beats mean its
    worker is gone and another worker should resume it.
    """
    budget = deadline_in + LONG_SLACK
    return {
        "start_to_close_timeout": budget,
        "schedule_to_close_timeout": budget + LONG_SLACK,
        "heartbeat_timeout": timedelta(seconds=max(10.0, 3 * poll_interval_seconds)),
        "retry_policy": LONG_RETRY,
    }


def parse_migrate_input(request: MigrateServerInput | JsonValue) -> MigrateServerInput:
    """Validate raw workflow input (see :func:`validate_input`)."""
    return validate_input(MigrateServerInput, request, what="MigrateServer input")


def failure_text(err: BaseException) -> str:
    """One line naming what failed, for results and error messages."""
    if is_cancelled_exception(err):
        return "workflow cancelled"
    if isinstance(err, ActivityError):
        cause = err.cause
        if isinstance(cause, ApplicationError):
            return f"{err.activity_type} failed: {cause.type or 'error'}: {cause.message}"
        if isinstance(cause, TimeoutError):
            return f"{err.activity_type} timed out ({cause.type.name if cause.type else 'timeout'})"
        return f"{err.activity_type} failed: {cause or err}"
    return str(err)


@workflow.defn(name="MigrateServer")
class MigrateServer:
    """Move one server between compute hosts, live or cold, and never lose it."""

    def __init__(self) -> None:
        self._progress = MigrationProgress()
        self._phase_started: datetime | None = None
        self._phases: dict[str, float] = {}
        self._migration_type = "unknown"

    @workflow.query(name=PROGRESS_QUERY)
    def progress(self) -> MigrationProgress:
        """Phase, Nova migration status, memory remaining, attempts."""
        return self._progress

    @workflow.signal(name=PROGRESS_SIGNAL)
    def report_progress(self, report: MigrationProgressReport) -> None:
        """Progress from the waiting activity (internal; sent by the worker)."""
        self._update(
            migration_id=report.migration_id or self._progress.migration_id,
            nova_migration_status=report.nova_migration_status,
            memory_total_bytes=report.memory_total_bytes,
            memory_remaining_bytes=report.memory_remaining_bytes,
            attempts=self._progress.attempts | {MigrateActivity.WAIT.value: report.attempt},
        )

    @workflow.run
    async def run(self, request: MigrateServerInput | JsonValue) -> MigrationResult:
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
            result = await self._migrate(request)
        except (Exception, asyncio.CancelledError) as err:
            cancelled = workflow.cancellation_reason() is not None and is_cancelled_exception(err)
            self._record_outcome("cancelled" if cancelled else "failed")
            raise
        self._record_outcome(result.status.value.lower())
        return result

    async def _migrate(self, request: MigrateServerInput | JsonValue) -> MigrationResult:
        started = workflow.now()
        params = parse_migrate_input(request)
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
        dest = params.destination_node or "(scheduler)"
        what = f"{params.migration_type.value} {params.resource_id} {params.source_node}→{dest}"

        try:
            pre = await self._step(
                Phase.PRE_EXECUTE, MigrateActivity.PRE_EXECUTE, params, PreExecuteResult, f"check {what}"
            )
        except ActivityError as err:
            if is_cancelled_exception(err):
                raise  # cancelled before anything moved: nothing to revert
            raise _as_workflow_failure(err) from None
        if pre.skip_reason is not None or pre.server is None:
            return self._result(params, started, MigrationStatus.SKIPPED, pre.skip_reason or "skipped", pre.server)
        original = pre.server

        # From here on Nova may change: the compensation is armed before execute.
        executed: ExecuteResult | None = None
        try:
            executed = await self._step(
                Phase.EXECUTE,
                MigrateActivity.EXECUTE,
                ExecuteRequest(params=params, original=original, baseline_migration_id=pre.baseline_migration_id),
                ExecuteResult,
                f"start {what}",
                short_options(EXECUTE_TIMEOUT),
            )
            self._update(migration_id=executed.migration_id)
            budget = timedelta(seconds=params.timeout_seconds)
            deadline = workflow.now() + budget
            waited = await self._step(
                Phase.WAITING,
                MigrateActivity.WAIT,
                WaitRequest(
                    params=params,
                    original=original,
                    migration_id=executed.migration_id,
                    baseline_migration_id=pre.baseline_migration_id,
                    deadline=deadline,
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
            cause = failure_text(err)
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
            )

        verb = "moved" if final.host != params.source_node else "stayed"
        if params.destination_node is None and final.host and final.host != params.source_node:
            # The scheduler chose: make the migration findable by where it went.
            workflow.upsert_search_attributes([DESTINATION_HOST.value_set(final.host)])
        return self._result(
            params,
            started,
            MigrationStatus.SUCCEEDED,
            f"{verb} from {params.source_node} to {final.host} ({params.migration_type.value}, "
            f"Nova migration {executed.migration_id or '?'} {waited.nova_migration_status or 'done'})",
            final,
            migration_id=executed.migration_id,
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
        budget = timedelta(seconds=params.timeout_seconds)
        deadline = workflow.now() + budget
        request = RevertRequest(
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
                f"{cause}; and the revert failed: {failure_text(revert_err)}",
                {"cause": cause, "revert_error": failure_text(revert_err)},
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
        return await workflow.execute_activity(
            name.value, arg, result_type=result_type, summary=summary, **(options or short_options())
        )

    def _record_outcome(self, outcome: str) -> None:
        seconds = (workflow.now() - workflow.info().start_time).total_seconds()
        record_migration(workflow.metric_meter(), outcome=outcome, migration_type=self._migration_type, seconds=seconds)

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
        )


def _as_workflow_failure(err: ActivityError) -> WatcherTemporalError | ApplicationError:
    """Fail the workflow with the activity's own error type, not a wrapper."""
    cause = err.cause
    if isinstance(cause, ApplicationError) and cause.type == PreconditionFailed.__name__:
        return PreconditionFailed(cause.message)
    return ApplicationError(failure_text(err), type=type(err).__name__, non_retryable=True)

"""``TemporalWorkFlowEngine``: Watcher's ``temporal`` workflow engine.

Watcher's applier calls :meth:`TemporalWorkFlowEngine.execute` with every
action of a plan and waits for it to return. The engine

1. translates the actions into a ``MaintenancePlan`` input
   (:mod:`.translation`) and starts that workflow with id
   ``plan-watcher-<action plan uuid>`` on the workers' task queue, or attaches
   to it when it already runs (a restarted applier);
2. every ``status_interval`` seconds reads the workflow's ``status`` query
   and writes each action's changes into Watcher's DB with Watcher's own
   notifications (:mod:`.state_writer`), and reads the plan's row: CANCELLING
   sends ``action_plan.cancel.start`` and cancels the workflow, which aborts
   running migrations and puts their servers back;
3. watches the plan's task queue: a queue that no worker polls is named in
   the plan's ``status_message`` within seconds; after ``no_worker_timeout``
   the workflow is terminated and the plan fails (:mod:`.pollers`);
4. returns once the workflow closed: normally (the handler then derives the
   plan state from the action states), with ``ActionPlanCancelled`` (plan
   CANCELLED) or with ``WorkflowExecutionException`` (plan FAILED).

Every engine-side failure (bad options, Temporal unreachable or refusing at
the start, a workflow terminated, failed or timed out, no worker) writes its
cause as one bounded line in the plan's ``status_message`` (:mod:`.causes`)
and closes the actions left open: PENDING → CANCELLED, ONGOING → FAILED
(:meth:`.ActionStateWriter.close_unfinished`).

The Temporal client lives on a private asyncio loop in a daemon thread
(:mod:`.loop_thread`); DB writes stay on Watcher's own thread.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from temporalio.client import Client, WorkflowExecutionDescription, WorkflowExecutionStatus, WorkflowHandle
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import TerminatedError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode
from watcher import conf, objects
from watcher.applier.workflow_engine import base
from watcher.common import exception

from watcher_temporal.config import data_converter
from watcher_temporal.contract import (
    STATUS_QUERY,
    WORKFLOW_TASK_TIMEOUT,
    MaintenancePlanInput,
    PlanState,
    PlanStatus,
    WorkflowType,
    watcher_plan_workflow_id,
)
from watcher_temporal.watcher_engine import options
from watcher_temporal.watcher_engine.causes import Target, bounded, cause_of
from watcher_temporal.watcher_engine.loop_thread import LoopThread
from watcher_temporal.watcher_engine.plan_row import PlanRow
from watcher_temporal.watcher_engine.pollers import NoWorkerWatch, recent_pollers
from watcher_temporal.watcher_engine.state_writer import ActionStateWriter
from watcher_temporal.watcher_engine.translation import PlanLimits, plan_input, skipped_by_hand

logger = logging.getLogger(__name__)
T = TypeVar("T")

CONF = conf.CONF
#: Workflow type every Watcher plan runs as.
PLAN_WORKFLOW = WorkflowType.MAINTENANCE_PLAN.value
#: Seconds one Temporal call may take before the engine gives up on it.
RPC_TIMEOUT = 30.0
#: Seconds a status query of a closed workflow may take (it needs a worker to replay it).
CLOSED_QUERY_TIMEOUT = 5.0
#: Seconds between two attempts to reach an unreachable Temporal while following a plan.
UNREACHABLE_RETRY_SECONDS = 5.0
#: Closed statuses that are not a cancel or a normal end.
_BROKEN = frozenset(
    {WorkflowExecutionStatus.FAILED, WorkflowExecutionStatus.TERMINATED, WorkflowExecutionStatus.TIMED_OUT}
)


class EngineFailure(Exception):
    """The plan failed engine-side; ``cause`` is already the plan's one-line status message."""

    def __init__(self, cause: str) -> None:
        super().__init__(cause)
        self.cause = cause


def _utc_clock(seconds_from_now: float = 0.0) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds_from_now)).strftime("%H:%M:%S UTC")


class TemporalWorkFlowEngine(base.BaseWorkFlowEngine):
    """Runs each Watcher action plan as one durable ``MaintenancePlan`` workflow."""

    @classmethod
    def get_config_opts(cls) -> list[Any]:
        """``[watcher_workflow_engines.temporal]``; see :mod:`.options`."""
        return options.config_opts()

    def __init__(self, config: Any, context: Any = None, applier_manager: Any = None) -> None:
        super().__init__(config, context=context, applier_manager=applier_manager)
        self._options = dict(config or {})
        address, namespace, task_queue = options.where(self._options)
        self._target = Target(address=address, namespace=namespace, task_queue=task_queue)
        self._resolved: options.EngineSettings | None = None  # files are read when a plan starts
        self._loop: LoopThread | None = None
        self._client: Client | None = None

    @property
    def _settings(self) -> options.EngineSettings:
        if self._resolved is None:
            self._resolved = options.resolve(self._options)
        return self._resolved

    # -- Watcher's contract -------------------------------------------------

    def execute(self, actions: list[Any]) -> None:
        """Run the plan on Temporal and block until it is over.

        Raises:
            ActionPlanCancelled: the plan was cancelled (CANCELLING in the DB, or its workflow cancelled).
            WorkflowExecutionException: the plan could not run or its workflow broke; the cause is
                in the plan's status message and its open actions are closed.
        """
        if not actions:
            return
        plan_uuid = objects.ActionPlan.get_by_id(self.context, actions[0].action_plan_id).uuid
        writer = ActionStateWriter(self.context, skipped_by_hand=skipped_by_hand(actions))
        for action in actions:  # a restarted applier finds some already written
            writer.adopt(action.uuid, action.state)
        self._loop = LoopThread(name=f"temporal-{plan_uuid[:8]}")
        try:
            request = plan_input(actions, self._limits())
            handle = self._run(self._start_or_attach(plan_uuid, request))
            self._follow(plan_uuid, handle, writer)
        except exception.ActionPlanCancelled:
            raise
        except Exception as err:  # noqa: BLE001 - every engine-side failure ends in the plan's row
            cause = err.cause if isinstance(err, EngineFailure) else cause_of(err, self._target)
            logger.error("action plan %s failed: %s", plan_uuid, cause)
            self._record_failure(plan_uuid, writer, cause)
            raise exception.WorkflowExecutionException(error=cause) from None
        finally:
            self._close_loop()

    def workflow_exists(self, plan_uuid: str, *, cancel: bool = False) -> bool:
        """Whether the plan has a workflow (running or closed): a restarted applier re-attaches to it.

        Args:
            plan_uuid: The action plan.
            cancel: Also ask a running workflow to cancel (a cancel made while the applier was down).

        Raises:
            Exception: Temporal cannot say (unreachable, refusing, bad options); see :meth:`cause`.
        """
        self._loop = LoopThread(name=f"temporal-describe-{plan_uuid[:8]}")
        try:
            exists = self._run(self._exists(plan_uuid))
            if exists and cancel:
                client = self._run(self._connect())
                self._run(self._cancel(client.get_workflow_handle(watcher_plan_workflow_id(plan_uuid))))
            return exists
        finally:
            self._close_loop()

    def cause(self, err: BaseException) -> str:
        """One line for an exception of :meth:`workflow_exists`."""
        return cause_of(err, self._target)

    # -- failures -----------------------------------------------------------

    def _record_failure(self, plan_uuid: str, writer: ActionStateWriter, cause: str) -> None:
        try:
            writer.close_unfinished(plan_uuid, cause)
            PlanRow(self.context, plan_uuid).set_message(cause)
        except Exception:  # the handler still marks the plan FAILED
            logger.exception("action plan %s: could not record its failure", plan_uuid)

    def _close_loop(self) -> None:
        if self._loop is not None:
            self._loop.close()
        self._loop = None
        self._client = None

    # -- the run ------------------------------------------------------------

    def _limits(self) -> PlanLimits:
        return PlanLimits(
            on_failure=self._settings.failure_policy,
            max_parallel=self._settings.max_parallel,
            max_parallel_per_host=self._settings.max_parallel_per_host,
            max_parallel_per_source=self._settings.max_parallel_per_source,
            queued_per_source=self._settings.queued_per_source,
            max_parallel_per_destination=self._settings.max_parallel_per_destination,
            barriers=self._settings.barriers,
            migration_interval=float(CONF.nova.migration_interval),
            migration_max_retries=int(CONF.nova.migration_max_retries),
        )

    def _follow(self, plan_uuid: str, handle: WorkflowHandle[Any, Any], writer: ActionStateWriter) -> None:
        row = PlanRow(self.context, plan_uuid)
        watch = NoWorkerWatch(timeout=self._settings.no_worker_timeout)
        cancelling = False
        while True:
            described = self._describe(handle, row)
            if described is None:  # Temporal unreachable: the workflow goes on; noted, retried
                continue
            closed = described.status not in (None, WorkflowExecutionStatus.RUNNING)
            if not closed and watch.due():
                self._watch_workers(handle, watch, row)
            if described.status is WorkflowExecutionStatus.COMPLETED:
                status = self._run(handle.result(rpc_timeout=timedelta(seconds=RPC_TIMEOUT)))
            elif watch.missing_since is not None:  # a query needs a worker: it would only wait
                status = None
            else:
                status = self._run(self._status(handle, CLOSED_QUERY_TIMEOUT if closed else RPC_TIMEOUT))
            if status is not None:
                writer.catch_up(status.actions)
            if closed:
                break
            cancelling = cancelling or self._cancel_if_asked(plan_uuid, handle, status, row)
            time.sleep(self._settings.status_interval)
        if described.status is WorkflowExecutionStatus.CANCELED:
            self.notify_cancel_start(plan_uuid)  # once; also when cancelled outside Watcher
            raise exception.ActionPlanCancelled(uuid=plan_uuid)
        if described.status in _BROKEN:
            raise EngineFailure(self._run(self._failure_text(handle, described.status)))

    def _describe(self, handle: WorkflowHandle[Any, Any], row: PlanRow) -> WorkflowExecutionDescription | None:
        try:
            described = self._run(handle.describe(rpc_timeout=timedelta(seconds=RPC_TIMEOUT)))
        except (RPCError, TimeoutError) as err:
            if isinstance(err, RPCError) and err.status is RPCStatusCode.NOT_FOUND:
                raise EngineFailure(bounded(f"workflow {handle.id} not found: {err.message}")) from None
            note = bounded(
                f"cannot reach Temporal at {self._target.address} since {_utc_clock()} ({type(err).__name__}); "
                "the plan goes on in Temporal and its states are written when it answers"
            )
            if row.note(note):
                logger.warning("workflow %s: %s", handle.id, note)
            time.sleep(max(self._settings.status_interval, UNREACHABLE_RETRY_SECONDS))
            return None
        row.clear()
        return described

    def _cancel_if_asked(
        self, plan_uuid: str, handle: WorkflowHandle[Any, Any], status: PlanStatus | None, row: PlanRow
    ) -> bool:
        """Cancel the workflow when the plan is CANCELLING; mark the plan CANCELLING when its workflow is."""
        if row.state() == objects.action_plan.State.CANCELLING:
            logger.info("action plan %s is CANCELLING: cancelling workflow %s", plan_uuid, handle.id)
            self.notify_cancel_start(plan_uuid)
            self._run(self._cancel(handle))
            return True
        if status is not None and status.state is PlanState.CANCELLING:  # cancelled while we were away
            logger.info("workflow %s is cancelling: action plan %s is CANCELLING", handle.id, plan_uuid)
            row.set_state(objects.action_plan.State.CANCELLING)
            self.notify_cancel_start(plan_uuid)
            return True
        return False

    def _watch_workers(self, handle: WorkflowHandle[Any, Any], watch: NoWorkerWatch, row: PlanRow) -> None:
        """Name a task queue without worker in the plan's row; past ``no_worker_timeout``, end the plan."""
        queue = self._target.task_queue
        try:
            pollers = self._run(recent_pollers(self._run(self._connect()), queue, timeout=RPC_TIMEOUT))
        except (RPCError, TimeoutError) as err:
            logger.warning("pollers of task queue %r not readable: %s", queue, type(err).__name__)
            return
        was_missing = watch.missing_since is not None
        watch.seen(pollers)
        where = f"task queue {queue!r} (namespace {self._target.namespace!r}, Temporal at {self._target.address})"
        if watch.missing_since is None:
            if was_missing:
                logger.info("workflow %s: a worker polls %s again", handle.id, where)
            row.clear()
            return
        timeout = self._settings.no_worker_timeout
        if watch.expired():
            cause = bounded(
                f"no worker polled {where} for {timeout:.0f} s (no_worker_timeout): "
                f"workflow {handle.id} terminated so that nothing runs later"
            )
            self._run(handle.terminate(reason=cause, rpc_timeout=timedelta(seconds=RPC_TIMEOUT)))
            raise EngineFailure(cause)
        if not was_missing:
            note = bounded(
                f"no worker polls {where}; start one, or the plan fails at "
                f"{_utc_clock(watch.seconds_left())} (no_worker_timeout {timeout:.0f} s)"
            )
            row.note(note)
            logger.warning("workflow %s: %s", handle.id, note)

    # -- Temporal calls (on the loop thread) --------------------------------

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        assert self._loop is not None
        return self._loop.run(coro, timeout=RPC_TIMEOUT * 2)

    async def _connect(self) -> Client:
        if self._client is None:
            self._client = await Client.connect(
                **self._settings.temporal.connect, data_converter=data_converter(codec=self._settings.codec)
            )
        return self._client

    async def _start_or_attach(self, plan_uuid: str, request: MaintenancePlanInput) -> WorkflowHandle[Any, Any]:
        client = await self._connect()
        workflow_id = watcher_plan_workflow_id(plan_uuid)
        try:
            handle = await client.start_workflow(
                PLAN_WORKFLOW,
                request,
                id=workflow_id,
                task_queue=self._settings.temporal.task_queue,
                task_timeout=WORKFLOW_TASK_TIMEOUT,
                result_type=PlanStatus,
                # One run per action plan: a restarted applier follows that run
                # (running or closed) instead of starting the plan again.
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                rpc_timeout=timedelta(seconds=RPC_TIMEOUT),
            )
            logger.info("action plan %s runs as workflow %s", plan_uuid, workflow_id)
        except WorkflowAlreadyStartedError:
            handle = client.get_workflow_handle(workflow_id, result_type=PlanStatus)
            logger.info("action plan %s: attached to workflow %s", plan_uuid, workflow_id)
        return handle

    async def _exists(self, plan_uuid: str) -> bool:
        client = await self._connect()
        try:
            await client.get_workflow_handle(watcher_plan_workflow_id(plan_uuid)).describe(
                rpc_timeout=timedelta(seconds=RPC_TIMEOUT)
            )
        except RPCError as err:
            if err.status is RPCStatusCode.NOT_FOUND and "namespace" not in err.message.lower():
                return False
            raise
        return True

    async def _cancel(self, handle: WorkflowHandle[Any, Any]) -> None:
        try:
            await handle.cancel(rpc_timeout=timedelta(seconds=RPC_TIMEOUT))
        except RPCError as err:  # it may have closed meanwhile: the next read tells
            logger.warning("cancel of %s not accepted: %s", handle.id, err.status)

    async def _status(self, handle: WorkflowHandle[Any, Any], timeout: float) -> PlanStatus | None:
        try:
            return await handle.query(STATUS_QUERY, result_type=PlanStatus, rpc_timeout=timedelta(seconds=timeout))
        except Exception as err:  # noqa: BLE001 - a status read must not end the plan
            logger.warning("status of %s not readable yet: %s", handle.id, type(err).__name__)
            return None

    async def _failure_text(self, handle: WorkflowHandle[Any, Any], status: WorkflowExecutionStatus) -> str:
        how = {
            WorkflowExecutionStatus.TERMINATED: "was terminated",
            WorkflowExecutionStatus.TIMED_OUT: "timed out",
        }.get(status, "failed")
        try:
            await handle.result(rpc_timeout=timedelta(seconds=RPC_TIMEOUT))
        except Exception as err:  # noqa: BLE001 - we only want its text
            cause = getattr(err, "cause", None) or err
            text = cause.message if isinstance(cause, TerminatedError) else f"{type(cause).__name__}: {cause}"
            return bounded(f"workflow {handle.id} {how}: {text}")
        return bounded(f"workflow {handle.id} {how}")

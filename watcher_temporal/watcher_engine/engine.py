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
3. returns once the workflow closed: normally (the handler then derives the
   plan state from the action states), with ``ActionPlanCancelled`` (plan
   CANCELLED) or with ``WorkflowExecutionException`` (plan FAILED).

The Temporal client lives on a private asyncio loop in a daemon thread
(:mod:`.loop_thread`); DB writes stay on Watcher's own thread.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Coroutine
from datetime import timedelta
from typing import Any, TypeVar

from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode
from watcher import conf, objects
from watcher.applier.workflow_engine import base
from watcher.common import exception

from watcher_temporal.config import data_converter
from watcher_temporal.contract import (
    STATUS_QUERY,
    WORKFLOW_TASK_TIMEOUT,
    MaintenancePlanInput,
    PlanStatus,
    WorkflowType,
    watcher_plan_workflow_id,
)
from watcher_temporal.errors import InvalidInput
from watcher_temporal.watcher_engine import options
from watcher_temporal.watcher_engine.loop_thread import LoopThread
from watcher_temporal.watcher_engine.state_writer import ActionStateWriter
from watcher_temporal.watcher_engine.translation import PlanLimits, plan_input, skipped_by_hand

logger = logging.getLogger(__name__)
T = TypeVar("T")

CONF = conf.CONF
#: Workflow type every Watcher plan runs as.
PLAN_WORKFLOW = WorkflowType.MAINTENANCE_PLAN.value
#: Seconds one Temporal call may take before the engine gives up on it.
RPC_TIMEOUT = 30.0
#: Seconds between two attempts to reach an unreachable Temporal while following a plan.
UNREACHABLE_RETRY_SECONDS = 5.0
#: Longest error text handed to Watcher (it lands in the plan's status message).
MAX_ERROR_TEXT = 500
#: Closed statuses that are not a cancel or a normal end.
_BROKEN = frozenset(
    {WorkflowExecutionStatus.FAILED, WorkflowExecutionStatus.TERMINATED, WorkflowExecutionStatus.TIMED_OUT}
)


class TemporalWorkFlowEngine(base.BaseWorkFlowEngine):
    """Runs each Watcher action plan as one durable ``MaintenancePlan`` workflow."""

    @classmethod
    def get_config_opts(cls) -> list[Any]:
        """``[watcher_workflow_engines.temporal]``; see :mod:`.options`."""
        return options.config_opts()

    def __init__(self, config: Any, context: Any = None, applier_manager: Any = None) -> None:
        super().__init__(config, context=context, applier_manager=applier_manager)
        self._settings = options.resolve(dict(config or {}))
        self._loop: LoopThread | None = None
        self._client: Client | None = None

    # -- Watcher's contract -------------------------------------------------

    def execute(self, actions: list[Any]) -> None:
        """Run the plan on Temporal and block until it is over.

        Raises:
            ActionPlanCancelled: the plan was cancelled (CANCELLING in the DB).
            WorkflowExecutionException: the plan could not run or its workflow broke.
        """
        if not actions:
            return
        plan_uuid = objects.ActionPlan.get_by_id(self.context, actions[0].action_plan_id).uuid
        try:
            request = plan_input(actions, self._limits())
        except InvalidInput as err:
            raise exception.WorkflowExecutionException(error=str(err)[:MAX_ERROR_TEXT]) from None
        writer = ActionStateWriter(self.context, skipped_by_hand=skipped_by_hand(actions))
        for action in actions:  # a restarted applier finds some already written
            writer.adopt(action.uuid, action.state)
        self._loop = LoopThread(name=f"temporal-{plan_uuid[:8]}")
        try:
            handle = self._run(self._start_or_attach(plan_uuid, request))
            self._follow(plan_uuid, handle, writer)
        finally:
            self._loop.close()
            self._loop = None
            self._client = None

    def has_workflow(self, plan_uuid: str) -> bool:
        """Whether the plan has a workflow (running or closed): a restarted applier re-attaches to it."""
        loop = LoopThread(name=f"temporal-describe-{plan_uuid[:8]}")
        self._loop = loop
        try:
            return loop.run(self._exists(plan_uuid), timeout=RPC_TIMEOUT * 2)
        finally:
            loop.close()
            self._loop = None
            self._client = None

    # -- the run ------------------------------------------------------------

    def _limits(self) -> PlanLimits:
        return PlanLimits(
            on_failure=self._settings.failure_policy,
            max_parallel=self._settings.max_parallel,
            max_parallel_per_host=self._settings.max_parallel_per_host,
            max_parallel_per_source=self._settings.max_parallel_per_source,
            max_parallel_per_destination=self._settings.max_parallel_per_destination,
            barriers=self._settings.barriers,
            migration_interval=float(CONF.nova.migration_interval),
            migration_max_retries=int(CONF.nova.migration_max_retries),
        )

    def _follow(self, plan_uuid: str, handle: WorkflowHandle[Any, Any], writer: ActionStateWriter) -> None:
        cancelling = False
        while True:
            try:
                described = self._run(handle.describe(rpc_timeout=timedelta(seconds=RPC_TIMEOUT)))
            except (RPCError, TimeoutError) as err:
                # Temporal unreachable: the workflow goes on without us; keep the plan ONGOING and retry.
                logger.warning("workflow %s not reachable (%s); retrying", handle.id, type(err).__name__)
                time.sleep(max(self._settings.status_interval, UNREACHABLE_RETRY_SECONDS))
                continue
            closed = described.status not in (None, WorkflowExecutionStatus.RUNNING)
            if described.status is WorkflowExecutionStatus.COMPLETED:
                status = self._run(handle.result(rpc_timeout=timedelta(seconds=RPC_TIMEOUT)))
            else:
                status = self._run(self._status(handle))
            if status is not None:
                writer.catch_up(status.actions)
            if closed:
                break
            if not cancelling and self._plan_state(plan_uuid) == objects.action_plan.State.CANCELLING:
                cancelling = True
                logger.info("action plan %s is CANCELLING: cancelling workflow %s", plan_uuid, handle.id)
                self.notify_cancel_start(plan_uuid)
                self._run(self._cancel(handle))
            time.sleep(self._settings.status_interval)
        if described.status is WorkflowExecutionStatus.CANCELED:
            raise exception.ActionPlanCancelled(uuid=plan_uuid)
        if described.status in _BROKEN:
            raise exception.WorkflowExecutionException(error=self._run(self._failure_text(handle))[:MAX_ERROR_TEXT])

    def _plan_state(self, plan_uuid: str) -> str:
        return str(objects.ActionPlan.get_by_uuid(self.context, plan_uuid).state)

    # -- Temporal calls (on the loop thread) --------------------------------

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        assert self._loop is not None
        return self._loop.run(coro, timeout=RPC_TIMEOUT * 2)

    async def _connect(self) -> Client:
        if self._client is None:
            self._client = await Client.connect(
                **self._settings.temporal.connect, data_converter=data_converter(self._settings.converter_env)
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
            if err.status is RPCStatusCode.NOT_FOUND:
                return False
            raise
        return True

    async def _cancel(self, handle: WorkflowHandle[Any, Any]) -> None:
        try:
            await handle.cancel(rpc_timeout=timedelta(seconds=RPC_TIMEOUT))
        except RPCError as err:  # it may have closed meanwhile: the next read tells
            logger.warning("cancel of %s not accepted: %s", handle.id, err.status)

    async def _status(self, handle: WorkflowHandle[Any, Any]) -> PlanStatus | None:
        try:
            return await handle.query(STATUS_QUERY, result_type=PlanStatus, rpc_timeout=timedelta(seconds=RPC_TIMEOUT))
        except Exception as err:  # noqa: BLE001 - a status read must not end the plan
            logger.warning("status of %s not readable yet: %s", handle.id, type(err).__name__)
            return None

    async def _failure_text(self, handle: WorkflowHandle[Any, Any]) -> str:
        try:
            await handle.result()
        except Exception as err:  # noqa: BLE001 - we only want its text
            cause = getattr(err, "cause", None)
            return f"{type(err).__name__}: {cause or err}"
        return "workflow ended without a result"

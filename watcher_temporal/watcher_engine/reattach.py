"""The start-up sync of ``watcher-temporal-applier``: re-attach instead of cancelling.

Watcher's applier, at start-up (``Syncer.sync()``) and when its
``ApplierMonitor`` sees an applier fail, marks every ONGOING plan of that host
CANCELLED. With taskflow that matched the cloud (the plan died with the
process); with Temporal the plan's workflow keeps running, so the DB would say
CANCELLED while servers keep moving. This command is Watcher's own
``watcher-applier`` with one change: every ONGOING or CANCELLING plan of the
host is resumed in a thread of its own, so that the applier serves other plans
at once, whatever Temporal does:

* the thread asks Temporal whether the plan's workflow ``plan-watcher-<uuid>``
  exists. While Temporal cannot answer (unreachable, refusing, bad options),
  the plan's ``status_message`` says so in one line, the log too, and the
  thread asks again every few seconds: the workflow may be running, so the
  plan is neither failed nor cancelled meanwhile;
* a plan without a workflow is cancelled as Watcher does;
* a plan with one is followed again: Watcher's ``DefaultActionPlanHandler``
  runs in the thread; the engine attaches to the workflow instead of starting
  one, writes what happened meanwhile and follows it to its end;
* a plan found CANCELLING (cancelled through Watcher's API while the applier
  was down) has its workflow cancelled first, then is followed the same way:
  running migrations are aborted, and the plan ends CANCELLED.

The command itself is :mod:`watcher_temporal.watcher_engine.applier`.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from oslo_config import cfg
from watcher import objects
from watcher.applier import sync
from watcher.applier.action_plan.default import DefaultActionPlanHandler
from watcher.applier.loading.default import DefaultWorkFlowEngineLoader
from watcher.common import context as watcher_context

from watcher_temporal.watcher_engine.causes import PREFIX, bounded
from watcher_temporal.watcher_engine.plan_row import PlanRow

logger = logging.getLogger(__name__)
CONF = cfg.CONF
#: The engine's entry point name.
ENGINE_NAME = "temporal"
#: Seconds between two questions to a Temporal that did not answer.
RETRY_SECONDS = 3.0
#: Times Watcher's handler is run for one resumed plan whose row it could not close (DB errors).
HANDLER_ATTEMPTS = 3


class ReattachingSyncer(sync.Syncer):
    """Watcher's ``Syncer``; ONGOING and CANCELLING plans are resumed in threads, not cancelled."""

    def __init__(self) -> None:
        super().__init__()
        self.followers: list[threading.Thread] = []

    def sync(self) -> None:
        """Watcher's sync; first, the workflows of plans cancelled while the applier was down are asked
        to cancel (Temporal calls only, in a thread), so that their migrations abort while Watcher syncs."""
        if CONF.watcher_applier.workflow_engine == ENGINE_NAME:
            context = watcher_context.make_context()
            filters = {"state": objects.action_plan.State.CANCELLING, "hostname": CONF.host}
            cancelling = [plan.uuid for plan in objects.ActionPlan.list(context, filters=filters)]
            if cancelling:
                threading.Thread(
                    target=_cancel_early, args=(context, cancelling), name="cancel-early", daemon=True
                ).start()
        super().sync()

    def _cancel_ongoing_actionplans(self, context: Any, host: str | None = None) -> None:
        if CONF.watcher_applier.workflow_engine != ENGINE_NAME:
            super()._cancel_ongoing_actionplans(context, host)
            return
        hostname = host or CONF.host
        plans = [
            (plan, state)
            for state in (objects.action_plan.State.ONGOING, objects.action_plan.State.CANCELLING)
            for plan in objects.ActionPlan.list(context, filters={"state": state, "hostname": hostname})
        ]
        if not plans:
            return
        try:
            loaded = DefaultWorkFlowEngineLoader().load(name=ENGINE_NAME, context=context)  # no Temporal call yet
        except Exception as err:  # noqa: BLE001 - a bad option value must not stop the applier (crash loop)
            note = bounded(f"bad configuration: {err}; the applier re-attaches this plan once it is fixed")
            logger.error("cannot resume %d action plans: %s", len(plans), note)
            for plan, _state in plans:
                PlanRow(context, plan.uuid).note(note)
            return
        for plan, state in plans:
            engine = type(loaded)(loaded.config, context=context)  # one per thread
            follower = threading.Thread(
                target=_resume,
                args=(engine, context, plan.uuid, str(state), hostname),
                name=f"reattach-{plan.uuid[:8]}",
                daemon=True,
            )
            follower.start()
            self.followers.append(follower)

    def wait(self, timeout: float | None = None) -> None:
        """Join the resumed plans (tests and one-shot runs)."""
        for follower in self.followers:
            follower.join(timeout)


def _resume(engine: Any, context: Any, plan_uuid: str, state: str, hostname: str) -> None:
    """Re-attach one plan found ONGOING or CANCELLING at start-up (its own thread)."""
    try:
        cancel = state == objects.action_plan.State.CANCELLING  # cancelled while the applier was down
        if not _wait_for_answer(engine, context, plan_uuid, cancel=cancel):
            _cancel_like_watcher(context, objects.ActionPlan.get_by_uuid(context, plan_uuid, eager=True), hostname)
            return
        logger.info("action plan %s is %s and its workflow exists: re-attaching", plan_uuid, state)
        for attempt in range(1, HANDLER_ATTEMPTS + 1):
            DefaultActionPlanHandler(context, None, plan_uuid).execute()
            left = str(objects.ActionPlan.get_by_uuid(context, plan_uuid).state)
            if left not in (objects.action_plan.State.ONGOING, objects.action_plan.State.CANCELLING):
                return
            # The handler could not even record its end (a DB error): the row would stay as it is.
            logger.warning("action plan %s still %s after attempt %d: following it again", plan_uuid, left, attempt)
            time.sleep(RETRY_SECONDS)
    except Exception:  # the handler logs and records its own failures
        logger.exception("resuming action plan %s failed", plan_uuid)


def _cancel_early(context: Any, plan_uuids: list[str]) -> None:
    """Ask each plan's workflow to cancel; :func:`_resume` asks again (and says why) if this fails."""
    try:
        engine = DefaultWorkFlowEngineLoader().load(name=ENGINE_NAME, context=context)
    except Exception:  # noqa: BLE001 - the sync says why on each plan
        return
    for plan_uuid in plan_uuids:
        try:
            engine.workflow_exists(plan_uuid, cancel=True)
        except Exception as err:  # noqa: BLE001 - the resuming thread notes it on the plan
            logger.info("action plan %s: early cancel not sent: %s", plan_uuid, engine.cause(err))


def _wait_for_answer(engine: Any, context: Any, plan_uuid: str, *, cancel: bool) -> bool:
    """Whether the plan's workflow exists (asked to cancel when ``cancel``), asking until Temporal answers.

    Each wait is noted on the plan's row and in the log.
    """
    row = PlanRow(context, plan_uuid)
    while True:
        try:
            exists = bool(engine.workflow_exists(plan_uuid, cancel=cancel))
        except Exception as err:  # noqa: BLE001 - unreachable, refusing or misconfigured: say it, ask again
            note = bounded(
                f"{engine.cause(err).removeprefix(PREFIX)}; the applier re-attaches this plan when Temporal answers"
            )
            try:
                if row.note(note):
                    logger.warning("action plan %s: %s", plan_uuid, note)
            except Exception:
                logger.exception("action plan %s: %s (not written to the plan)", plan_uuid, note)
            time.sleep(RETRY_SECONDS)
            continue
        row.clear()
        return exists


def _cancel_like_watcher(context: Any, plan: Any, hostname: str) -> None:
    """``watcher.applier.sync.Syncer._cancel_ongoing_actionplans`` for one plan."""
    plan.state = objects.action_plan.State.CANCELLED
    plan.status_message = (
        f"Action plan was cancelled because Applier {hostname} was stopped while the action plan was ongoing."
    )
    plan.save()
    filters = {
        "action_plan_uuid": plan.uuid,
        "state__in": (objects.action.State.PENDING, objects.action.State.ONGOING),
    }
    for action in objects.Action.list(context, filters=filters, eager=True):
        action.state = objects.action.State.CANCELLED
        action.status_message = (
            f"Action was cancelled because Applier {hostname} was stopped while the action plan was ongoing."
        )
        action.save()

"""The start-up sync of ``watcher-temporal-applier``: re-attach instead of cancelling.

Watcher's applier, at start-up (``Syncer.sync()``) and when its
``ApplierMonitor`` sees an applier fail, marks every ONGOING plan of that host
CANCELLED. With taskflow that matched the cloud (the plan died with the
process); with Temporal the plan's workflow keeps running, so the DB would say
CANCELLED while servers keep moving. This command is Watcher's own
``watcher-applier`` with one change: for an ONGOING plan whose workflow
``plan-watcher-<uuid>`` exists (running or already closed), the sync runs
Watcher's ``DefaultActionPlanHandler`` again in a thread; the engine attaches
to the workflow instead of starting one, writes what happened meanwhile and
follows it to its end. Plans without a workflow are cancelled as Watcher does.

The command itself is :mod:`watcher_temporal.watcher_engine.applier`.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from oslo_config import cfg
from watcher import objects
from watcher.applier import sync
from watcher.applier.action_plan.default import DefaultActionPlanHandler
from watcher.applier.loading.default import DefaultWorkFlowEngineLoader

logger = logging.getLogger(__name__)
CONF = cfg.CONF
#: The engine's entry point name.
ENGINE_NAME = "temporal"


class ReattachingSyncer(sync.Syncer):
    """Watcher's ``Syncer``; ONGOING plans with a workflow are followed, not cancelled."""

    def __init__(self) -> None:
        super().__init__()
        self.followers: list[threading.Thread] = []

    def _cancel_ongoing_actionplans(self, context: Any, host: str | None = None) -> None:
        if CONF.watcher_applier.workflow_engine != ENGINE_NAME:
            super()._cancel_ongoing_actionplans(context, host)
            return
        hostname = host or CONF.host
        plans = objects.ActionPlan.list(
            context, filters={"state": objects.action_plan.State.ONGOING, "hostname": hostname}, eager=True
        )
        engine = DefaultWorkFlowEngineLoader().load(name=ENGINE_NAME, context=context)
        orphans = []
        for plan in plans:
            if engine.has_workflow(plan.uuid):
                logger.info("action plan %s is ONGOING and its workflow exists: re-attaching", plan.uuid)
                follower = threading.Thread(
                    target=_follow, args=(context, plan.uuid), name=f"reattach-{plan.uuid[:8]}", daemon=True
                )
                follower.start()
                self.followers.append(follower)
            else:
                orphans.append(plan)
        for plan in orphans:
            _cancel_like_watcher(context, plan, hostname)

    def wait(self, timeout: float | None = None) -> None:
        """Join the re-attached plans (tests and one-shot runs)."""
        for follower in self.followers:
            follower.join(timeout)


def _follow(context: Any, plan_uuid: str) -> None:
    try:
        DefaultActionPlanHandler(context, None, plan_uuid).execute()
    except Exception:  # the handler logs and records its own failures
        logger.exception("following action plan %s failed", plan_uuid)


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

"""Activities: every Nova call of the project, through openstacksdk."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from temporalio.client import Client

from watcher_temporal.activities.drain import DrainActivities
from watcher_temporal.activities.drain_hosts import DrainHostsActivities
from watcher_temporal.activities.migrate import MigrateActivities
from watcher_temporal.activities.nova import NovaGateway
from watcher_temporal.activities.observer import NovaObserver
from watcher_temporal.activities.plan_children import PlanChildActivities
from watcher_temporal.activities.server_actions import ServerActionActivities
from watcher_temporal.activities.service_state import ServiceStateActivities
from watcher_temporal.activities.undrain import UndrainActivities
from watcher_temporal.activities.watcher_actions import WatcherActionActivities


def all_activities(
    nova: NovaGateway, *, observer: NovaObserver | None = None, client: Client | None = None
) -> list[Callable[..., Any]]:
    """Every activity the worker registers, bound to one Nova gateway and the process's observer.

    Without ``observer`` every wait polls Nova for itself (today's per-migration path).
    ``client`` (the worker's own) lets ``undrain-host`` read the host's drain.
    """
    return [
        *MigrateActivities(nova, observer=observer).all(),
        *ServiceStateActivities(nova).all(),
        *DrainActivities(nova).all(),
        *DrainHostsActivities(nova).all(),
        *UndrainActivities(nova, client).all(),
        *PlanChildActivities(client).all(),
        *ServerActionActivities(nova).all(),
        *WatcherActionActivities().all(),
    ]


# This folder is installed as ``watcher_temporal.activities`` (pyproject.toml's
# package-dir); imported under any other name it would be a second copy of
# every class in it (two MigrateServer types, two sets of activities).
if __name__ != "watcher_temporal.activities":
    raise ImportError(f"import watcher_temporal.activities, not {__name__} (see docs/development.md)")

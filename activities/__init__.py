"""Activities: every Nova call of the project, through openstacksdk."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from watcher_temporal.activities.drain import DrainActivities
from watcher_temporal.activities.migrate import MigrateActivities
from watcher_temporal.activities.nova import NovaGateway
from watcher_temporal.activities.server_actions import ServerActionActivities
from watcher_temporal.activities.service_state import ServiceStateActivities
from watcher_temporal.activities.watcher_actions import WatcherActionActivities


def all_activities(nova: NovaGateway) -> list[Callable[..., Any]]:
    """Every activity the worker registers, bound to one Nova gateway."""
    return [
        *MigrateActivities(nova).all(),
        *ServiceStateActivities(nova).all(),
        *DrainActivities(nova).all(),
        *ServerActionActivities(nova).all(),
        *WatcherActionActivities().all(),
    ]

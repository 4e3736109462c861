"""Activities: every Nova call of the project, through openstacksdk."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from activities.drain import DrainActivities
from activities.migrate import MigrateActivities
from activities.nova import NovaGateway
from activities.service_state import ServiceStateActivities


def all_activities(nova: NovaGateway) -> list[Callable[..., Any]]:
    """Every activity the worker registers, bound to one Nova gateway."""
    return [*MigrateActivities(nova).all(), *ServiceStateActivities(nova).all(), *DrainActivities(nova).all()]

"""Activities: every Nova call of the project, through openstacksdk."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from activities.migrate import MigrateActivities
from activities.nova import NovaGateway


def all_activities(nova: NovaGateway) -> list[Callable[..., Any]]:
    """Every activity the worker registers, bound to one Nova gateway."""
    return [*MigrateActivities(nova).all()]

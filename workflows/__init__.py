"""Workflow definitions: decisions only, no I/O (see each module's docstring)."""

from watcher_temporal.workflows.maintenance_plan import BuildDrainPlan, MaintenancePlan
from watcher_temporal.workflows.migrate_server import MigrateServer

#: Every workflow the worker registers.
ALL_WORKFLOWS = [MigrateServer, MaintenancePlan, BuildDrainPlan]

__all__ = ["ALL_WORKFLOWS", "BuildDrainPlan", "MaintenancePlan", "MigrateServer"]

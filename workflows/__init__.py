"""Workflow definitions: decisions only, no I/O (see each module's docstring)."""

from watcher_temporal.workflows.drain_host import DrainHost
from watcher_temporal.workflows.drain_hosts import DrainHosts
from watcher_temporal.workflows.legacy import BuildDrainPlan
from watcher_temporal.workflows.maintenance_plan import MaintenancePlan
from watcher_temporal.workflows.migrate_server import MigrateServer
from watcher_temporal.workflows.undrain_host import UndrainHost

#: Every workflow the worker registers (``BuildDrainPlan`` only so that runs an
#: older CLI started still finish; ``DrainHost`` replaces it).
ALL_WORKFLOWS = [MigrateServer, MaintenancePlan, DrainHost, DrainHosts, UndrainHost, BuildDrainPlan]

__all__ = [
    "ALL_WORKFLOWS",
    "BuildDrainPlan",
    "DrainHost",
    "DrainHosts",
    "MaintenancePlan",
    "MigrateServer",
    "UndrainHost",
]

# This folder is installed as ``watcher_temporal.workflows`` (pyproject.toml's
# package-dir); imported under any other name it would be a second copy of
# every class in it (two MigrateServer types, two sets of activities).
if __name__ != "watcher_temporal.workflows":
    raise ImportError(f"import watcher_temporal.workflows, not {__name__} (see docs/development.md)")

"""Workflow definitions: decisions only, no I/O (see each module's docstring)."""

from workflows.migrate_server import MigrateServer

#: Every workflow the worker registers.
ALL_WORKFLOWS = [MigrateServer]

__all__ = ["ALL_WORKFLOWS", "MigrateServer"]

"""watcher-temporal: OpenStack Watcher's applier actions as durable Temporal workflows.

The shared vocabulary lives in :mod:`watcher_temporal.contract`, the error
taxonomy in :mod:`watcher_temporal.errors`; workflows are in the top-level
``workflows`` package and all Nova I/O in the ``activities`` package.
"""

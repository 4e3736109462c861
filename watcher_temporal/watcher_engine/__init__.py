"""Watcher's ``temporal`` workflow engine: every action plan of a Watcher applier runs on Temporal.

Install with ``pip install watcher-temporal[watcher]`` into Watcher's environment
and set ``[watcher_applier] workflow_engine = temporal``. See docs/watcher-engine.md.

Modules (only :mod:`.engine`, :mod:`.state_writer`, :mod:`.reattach` and :mod:`.applier` import
python-watcher; the rest is plain and unit-testable without it):

* :mod:`.options`: the ``[watcher_workflow_engines.temporal]`` options.
* :mod:`.translation`: Watcher actions → a ``MaintenancePlan`` input.
* :mod:`.loop_thread`: the asyncio loop the Temporal client lives on.
* :mod:`.state_writer`: action states and notifications, as Watcher's own engine writes them.
* :mod:`.engine`: ``TemporalWorkFlowEngine``.
* :mod:`.reattach` and :mod:`.applier`: ``watcher-temporal-applier``, Watcher's applier whose start-up sync re-attaches.
"""

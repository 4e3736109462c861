"""Watcher's ``temporal`` workflow engine: every action plan of a Watcher applier runs on Temporal.

Install with ``pip install watcher-temporal[watcher]`` into Watcher's environment
and set ``[watcher_applier] workflow_engine = temporal``. See docs/watcher-engine.md.

Modules (only :mod:`.engine`, :mod:`.state_writer`, :mod:`.plan_row`, :mod:`.reattach` and :mod:`.applier` import
python-watcher; the rest is plain and unit-testable without it):

* :mod:`.options`: the ``[watcher_workflow_engines.temporal]`` options.
* :mod:`.translation`: Watcher actions → a ``MaintenancePlan`` input.
* :mod:`.loop_thread`: the asyncio loop the Temporal client lives on.
* :mod:`.causes`: an engine-side failure as one bounded line for the plan's ``status_message``.
* :mod:`.pollers`: whether a worker polls the plan's task queue, and the ``no_worker_timeout`` deadline.
* :mod:`.plan_row`: the plan's own row (the engine's note in ``status_message``, CANCELLING).
* :mod:`.state_writer`: action states and notifications, as Watcher's own engine writes them.
* :mod:`.engine`: ``TemporalWorkFlowEngine``.
* :mod:`.reattach` and :mod:`.applier`: ``watcher-temporal-applier``, Watcher's applier whose start-up sync re-attaches.
"""

"""``workflow.patched`` ids: every one defined here, once.

A patch id marks a change of a workflow's shape: histories recorded before
it replay the old branch, new runs take the new one. An id never changes and
is never reused (see docs/development.md for when one may be retired).
"""

from __future__ import annotations

#: ``MigrateServer`` and the plans check that they run under their canonical
#: workflow id (``migrate-<uuid>``, ``plan-…``).
CANONICAL_ID_PATCH = "canonical-workflow-id"
#: ``MigrateServer`` and the plans upsert ``WatcherOutcome`` at their end.
OUTCOME_PATCH = "outcome-search-attribute"
#: ``MigrateServer``: a cancel that arrived while pre_execute / execute
#: finished is honoured after the step (before, the migration went on).
CANCEL_AFTER_STEP_PATCH = "cancel-after-step"
#: Activities are cancelled with ``WAIT_CANCELLATION_COMPLETED`` (before, the
#: workflow did not wait for them to stop).
WAIT_CANCELLATION_PATCH = "wait-activity-cancellation"
#: Plans: per-source and per-destination limits and exclusive groups (before,
#: only the global and per-host limits).
HOST_LIMITS_PATCH = "host-limits"
#: Plans: a migration cancelled with the plan says how its server was put
#: back (an activity reads the child's memo); before, one fixed sentence.
CANCELLED_CHILD_OUTCOME_PATCH = "cancelled-child-outcome"
#: Plans: at most a batch of actions start per workflow task, a short timer
#: between batches (before, a whole window started in one task).
START_BATCH_PATCH = "plan-start-batches"

#: ``MigrateServer``: ``timeout_seconds`` counts from the workflow's start and
#: bounds pre_execute's and execute's retries too, and nothing is sent to Nova
#: after it (before, execute retried transient Nova errors for 10 minutes and
#: the wait's deadline counted from execute's end).
START_DEADLINE_PATCH = "timeout-bounds-start"
#: ``MigrateServer``: the ``report_progress`` signal changes nothing; progress
#: comes only from the worker's wait activity (its heartbeat details). Before,
#: any signaller's report was believed by the ``progress`` query.
PROGRESS_SIGNAL_IGNORED_PATCH = "progress-signal-ignored"
#: Plans read their servers' sizes (``plan.migration_sizes``, unless the input
#: carries ``server_sizes``), start migrations longest first and report an ETA
#: (before, no sizes and plan order).
DURATION_ORDER_PATCH = "duration-order"
#: Plans of at least 1,000 actions load in three workflow tasks (the input; a
#: 1 ms timer, every action's facts; a timer, the window); before, in one.
LOAD_IN_STEPS_PATCH = "plan-load-in-steps"

__all__ = [
    "CANCELLED_CHILD_OUTCOME_PATCH",
    "CANCEL_AFTER_STEP_PATCH",
    "CANONICAL_ID_PATCH",
    "DURATION_ORDER_PATCH",
    "HOST_LIMITS_PATCH",
    "LOAD_IN_STEPS_PATCH",
    "OUTCOME_PATCH",
    "PROGRESS_SIGNAL_IGNORED_PATCH",
    "START_BATCH_PATCH",
    "START_DEADLINE_PATCH",
    "WAIT_CANCELLATION_PATCH",
]

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

#: ``MigrateServer``: ``timeout_seconds`` counts from the workflow's start and
#: bounds pre_execute's and execute's retries too, and nothing is sent to Nova
#: after it (before, execute retried transient Nova errors for 10 minutes and
#: the wait's deadline counted from execute's end).
START_DEADLINE_PATCH = "timeout-bounds-start"
#: ``MigrateServer``: the ``report_progress`` signal changes nothing; progress
#: comes only from the worker's wait activity (its heartbeat details). Before,
#: any signaller's report was believed by the ``progress`` query.
PROGRESS_SIGNAL_IGNORED_PATCH = "progress-signal-ignored"

__all__ = [
    "CANCEL_AFTER_STEP_PATCH",
    "CANONICAL_ID_PATCH",
    "HOST_LIMITS_PATCH",
    "OUTCOME_PATCH",
    "PROGRESS_SIGNAL_IGNORED_PATCH",
    "START_DEADLINE_PATCH",
    "WAIT_CANCELLATION_PATCH",
]

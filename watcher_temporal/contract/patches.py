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
#: Plans read their servers' sizes (``plan.migration_sizes``, unless the input
#: carries ``server_sizes``), start migrations longest first and report an ETA
#: (before, no sizes and plan order).
DURATION_ORDER_PATCH = "duration-order"

__all__ = [
    "CANCEL_AFTER_STEP_PATCH",
    "CANONICAL_ID_PATCH",
    "DURATION_ORDER_PATCH",
    "HOST_LIMITS_PATCH",
    "OUTCOME_PATCH",
    "WAIT_CANCELLATION_PATCH",
]

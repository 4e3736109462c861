"""How workflows call activities: timeouts, heartbeats and retries, in one place.

Every activity heartbeats (the short ones from a background beat while their
Nova call runs, the long ones once per poll), so a worker that dies is noticed
after one heartbeat timeout and another worker retries the activity within
seconds. Retries are **timed, not counted**: transient Nova trouble
(``NovaUnavailable``/``NovaBusy``) is retried with back-off until the
activity's schedule-to-close budget runs out; every other error of the
taxonomy is non-retryable (the list is derived in :mod:`watcher_temporal.errors`).

Activities are cancelled with ``WAIT_CANCELLATION_COMPLETED``: after a cancel
the workflow waits until the activity has really stopped (its Nova call
returned) before it compensates, so the wait can never act behind the revert.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.workflow import ActivityCancellationType

with workflow.unsafe.imports_passed_through():
    from watcher_temporal.contract.patches import WAIT_CANCELLATION_PATCH
    from watcher_temporal.errors import NON_RETRYABLE_ERROR_TYPES

#: A short activity (one look at Nova, one request) heartbeats every second
#: while it runs (the worker sends beats within 1 s); this long without a beat
#: (three missed beats and some slack), its worker is taken for dead and another
#: worker retries it.
SHORT_HEARTBEAT = timedelta(seconds=4)
#: A long activity heartbeats once per poll interval (at least every 1 to 4 s
#: while it waits): three missed polls, at least this long and at most 30 s,
#: and its worker is taken for dead.
LONG_HEARTBEAT_FLOOR = timedelta(seconds=4)
#: One attempt of a short activity may take this long (a slow Nova).
SHORT_ATTEMPT = timedelta(seconds=120)
#: Default time during which transient Nova trouble is retried.
DEFAULT_RETRY_BUDGET = timedelta(minutes=10)
#: Slack given to the long activities beyond their own deadline: the activity
#: raises MigrationTimedOut / RevertFailed itself; Temporal's timeouts are the safety net.
LONG_SLACK = timedelta(seconds=120)


def _retry(maximum_interval: timedelta) -> RetryPolicy:
    return RetryPolicy(
        initial_interval=timedelta(seconds=1),
        backoff_coefficient=2.0,
        maximum_interval=maximum_interval,
        maximum_attempts=0,  # bounded by schedule-to-close, not by a count
        non_retryable_error_types=list(NON_RETRYABLE_ERROR_TYPES),
    )


def _cancellation_type() -> ActivityCancellationType:
    if workflow.patched(WAIT_CANCELLATION_PATCH):
        return ActivityCancellationType.WAIT_CANCELLATION_COMPLETED
    return ActivityCancellationType.TRY_CANCEL


def short_options(*, retry_budget: timedelta = DEFAULT_RETRY_BUDGET) -> dict[str, Any]:
    """Options of a short activity: one Nova look or request, retried within ``retry_budget``."""
    return {
        "start_to_close_timeout": min(SHORT_ATTEMPT, retry_budget),
        "schedule_to_close_timeout": retry_budget,
        "heartbeat_timeout": SHORT_HEARTBEAT,
        "retry_policy": _retry(timedelta(seconds=30)),
        "cancellation_type": _cancellation_type(),
    }


def long_options(deadline_in: timedelta, poll_interval_seconds: float) -> dict[str, Any]:
    """Options of a heartbeating activity that works until its own deadline.

    It heartbeats at least every few seconds, so three missed beats mean its
    worker is gone and another worker should resume it.
    """
    budget = deadline_in + LONG_SLACK
    return {
        "start_to_close_timeout": budget,
        "schedule_to_close_timeout": budget + LONG_SLACK,
        "heartbeat_timeout": max(LONG_HEARTBEAT_FLOOR, timedelta(seconds=3 * min(poll_interval_seconds, 10.0))),
        "retry_policy": _retry(timedelta(seconds=10)),
        "cancellation_type": _cancellation_type(),
    }

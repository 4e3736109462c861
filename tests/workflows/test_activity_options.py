"""What one lost worker may cost an activity: the heartbeat and retry numbers bound it.

A SIGKILLed worker's activity is retried after its heartbeat timeout plus the
retry policy's back-off, which grows with each attempt up to its cap. These
bounds hold however many kills hit one activity (issue: no activity loses more
than 15 s to one kill; the first retry starts within 6 s of a kill).
"""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

from watcher_temporal.workflows import activity_options as options

ONE_KILL_BUDGET = timedelta(seconds=15)
FIRST_RECOVERY = timedelta(seconds=6)


def test_no_activity_loses_more_than_15_s_to_one_lost_worker() -> None:
    with mock.patch.object(options, "_cancellation_type", return_value=None):
        short = options.short_options()
        longs = [options.long_options(timedelta(hours=1), poll) for poll in (0.25, 1, 5, 60, 300)]
    for opts in [short, *longs]:
        lost = opts["heartbeat_timeout"] + opts["retry_policy"].maximum_interval
        assert lost <= ONE_KILL_BUDGET, opts


def test_the_first_retry_after_a_lost_worker_starts_within_6_s() -> None:
    with mock.patch.object(options, "_cancellation_type", return_value=None):
        short = options.short_options()
    assert short["heartbeat_timeout"] + short["retry_policy"].initial_interval < FIRST_RECOVERY

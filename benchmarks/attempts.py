"""Which activity attempts failed in a run, and why: read from the workflows' histories.

A start burst is healthy when no activity needed a second attempt: no
heartbeat timeout (the server took a live worker for dead), no cancel that
nobody asked for, no retry. Temporal records an activity's ``ActivityTaskStarted``
event once, with its last attempt number and the failure that ended the attempt
before it (``last_failure``), so the histories tell, per activity type:

* ``retries``: attempts after the first;
* ``heartbeat_timeouts``: attempts that ended by heartbeat timeout (retried
  ones, from ``last_failure``, and final ones, from ``ActivityTaskTimedOut``);
* ``other_timeouts``: attempts that ended by start-to-close or
  schedule-to-close timeout;
* ``cancels_unasked``: activity cancels in a workflow nobody asked to cancel.

The worker's own side, ``Completing activity as failed`` log lines and which of
them were ``Activity cancelled`` (what a server-side timeout looks like from
the worker), comes from :func:`worker_log_counts`.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass, field
from pathlib import Path

from temporalio.api.enums.v1 import TimeoutType
from temporalio.api.failure.v1 import Failure
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowHistory

_HEARTBEAT = TimeoutType.TIMEOUT_TYPE_HEARTBEAT


@dataclass
class AttemptAudit:
    """Failed attempts over many histories, by activity type."""

    retries: collections.Counter[str] = field(default_factory=collections.Counter)
    heartbeat_timeouts: collections.Counter[str] = field(default_factory=collections.Counter)
    other_timeouts: collections.Counter[str] = field(default_factory=collections.Counter)
    cancels_unasked: collections.Counter[str] = field(default_factory=collections.Counter)
    #: The most attempts any one activity took.
    most_attempts: int = 0

    def add(self, history: WorkflowHistory) -> None:
        """Count the failed attempts of one workflow's history."""
        types: dict[int, str] = {}
        cancel_asked = False
        for event in history.events:
            if event.HasField("workflow_execution_cancel_requested_event_attributes"):
                cancel_asked = True
            elif event.HasField("activity_task_scheduled_event_attributes"):
                types[event.event_id] = event.activity_task_scheduled_event_attributes.activity_type.name
            else:
                self._add_activity_event(event, types, cancel_asked=cancel_asked)

    def _add_activity_event(self, event: HistoryEvent, types: dict[int, str], *, cancel_asked: bool) -> None:
        if event.HasField("activity_task_started_event_attributes"):
            started = event.activity_task_started_event_attributes
            name = types.get(started.scheduled_event_id, "?")
            self.most_attempts = max(self.most_attempts, started.attempt)
            if started.attempt > 1:
                self.retries[name] += started.attempt - 1
                self._count_timeout(name, started.last_failure)
        elif event.HasField("activity_task_timed_out_event_attributes"):
            timed_out = event.activity_task_timed_out_event_attributes
            self._count_timeout(types.get(timed_out.scheduled_event_id, "?"), timed_out.failure)
        elif event.HasField("activity_task_cancel_requested_event_attributes") and not cancel_asked:
            requested = event.activity_task_cancel_requested_event_attributes
            self.cancels_unasked[types.get(requested.scheduled_event_id, "?")] += 1

    def _count_timeout(self, name: str, failure: Failure) -> None:
        if not failure.HasField("timeout_failure_info"):
            return
        if failure.timeout_failure_info.timeout_type == _HEARTBEAT:
            self.heartbeat_timeouts[name] += 1
        else:
            self.other_timeouts[name] += 1

    def totals(self) -> dict[str, int]:
        """The four counts over every activity type."""
        return {
            "retries": sum(self.retries.values()),
            "heartbeat_timeouts": sum(self.heartbeat_timeouts.values()),
            "other_timeouts": sum(self.other_timeouts.values()),
            "cancels_unasked": sum(self.cancels_unasked.values()),
        }

    def by_type(self) -> str:
        """One line per activity type that had any failed attempt ("none" when clean)."""
        names = sorted(set(self.retries) | set(self.heartbeat_timeouts) | set(self.other_timeouts))
        names += sorted(set(self.cancels_unasked) - set(names))
        lines = [
            f"{name}: {self.retries[name]} retries, {self.heartbeat_timeouts[name]} heartbeat timeouts, "
            f"{self.other_timeouts[name]} other timeouts, {self.cancels_unasked[name]} cancels nobody asked for"
            for name in names
        ]
        return "\n".join(lines) or "none"


def audit(histories: list[WorkflowHistory]) -> AttemptAudit:
    """The :class:`AttemptAudit` of ``histories``."""
    result = AttemptAudit()
    for history in histories:
        result.add(history)
    return result


def worker_log_counts(text: str) -> tuple[int, int]:
    """(``Completing activity as failed`` lines, those of them ended by ``Activity cancelled``) in a worker log."""
    failed = cancelled = 0
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if "Completing activity as failed" not in line:
            continue
        failed += 1
        # The traceback that follows the line ends with the exception; the next record starts a new line.
        for follow in lines[i + 1 :]:
            if "CancelledError: Activity cancelled" in follow:
                cancelled += 1
                break
            if follow[:4].isdigit():  # the next log record (timestamped)
                break
    return failed, cancelled


def read_worker_log(path: Path) -> str:
    """A worker log's text, undecodable bytes replaced."""
    return path.read_text(errors="replace")

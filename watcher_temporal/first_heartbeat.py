"""Every activity heartbeats the moment its code starts, with the details it resumed from.

The server runs an activity's heartbeat timeout from the moment it hands the
task out (``ActivityTaskStarted``), not from when the worker's code begins:
the task first travels to the worker and through the SDK. A burst of hundreds
of starts makes that trip take seconds; an activity whose first own heartbeat
comes a second after its code starts then gets only what is left of the 4 s
for the trip, and the server times live attempts out. Beating at once takes
that second off the critical path. The beat carries the details the attempt was
given (an earlier attempt's resume state, or none), so it never erases where
a retried wait or revert got to.

It also tells when tasks reach the code late: an attempt that begins half its
heartbeat timeout or more after the server started it is counted and logged
(at most once a minute, with the count and the largest delay so far), since
the server is then close to taking this live worker for dead. Seen often, the
worker (or the path to it) is overloaded: give it CPU, or run another replica.
"""

from __future__ import annotations

import logging
import math
import time
from datetime import UTC, datetime
from typing import Any

from temporalio import activity
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor

logger = logging.getLogger(__name__)

#: An attempt that begins this share of its heartbeat timeout after the server
#: started it is a late start.
LATE_SHARE = 0.5
#: Late starts are logged at most once in this many seconds.
WARN_EVERY_SECONDS = 60.0


class FirstHeartbeatInterceptor(Interceptor):
    """Worker interceptor: a heartbeat as each heartbeating activity attempt begins.

    Attributes:
        late_starts: Attempts that began :data:`LATE_SHARE` of their heartbeat
            timeout or more after the server started them.
        largest_delay: The longest such delay seen, in seconds.
    """

    def __init__(self) -> None:
        self.late_starts = 0
        self.largest_delay = 0.0
        self._warned_at = -math.inf

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        """Wrap the activity's inbound calls."""
        return _BeatAtStart(next, self)

    def began(self, info: activity.Info) -> None:
        """Beat at once (with the resume details), and count the attempt if it began late."""
        if info.is_local or info.heartbeat_timeout is None:
            return
        activity.heartbeat(*info.heartbeat_details)
        started = info.started_time if info.started_time.tzinfo else info.started_time.replace(tzinfo=UTC)
        delay = (datetime.now(UTC) - started).total_seconds()
        timeout = info.heartbeat_timeout.total_seconds()
        if delay < LATE_SHARE * timeout:
            return
        self.late_starts += 1
        self.largest_delay = max(self.largest_delay, delay)
        now = time.monotonic()
        if now - self._warned_at >= WARN_EVERY_SECONDS:
            self._warned_at = now
            logger.warning(
                "activity %s (attempt %d) began %.1f s after the server started it, its heartbeat timeout is %g s: "
                "the worker takes its tasks late (%d late starts so far, the longest %.1f s)",
                info.activity_type,
                info.attempt,
                delay,
                timeout,
                self.late_starts,
                self.largest_delay,
            )


class _BeatAtStart(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, owner: FirstHeartbeatInterceptor) -> None:
        super().__init__(next)
        self._owner = owner

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        self._owner.began(activity.info())
        return await super().execute_activity(input)

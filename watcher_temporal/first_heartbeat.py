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
"""

from __future__ import annotations

from typing import Any

from temporalio import activity
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor


class FirstHeartbeatInterceptor(Interceptor):
    """Worker interceptor: a heartbeat as each heartbeating activity attempt begins."""

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        """Wrap the activity's inbound calls."""
        return _BeatAtStart(next)


class _BeatAtStart(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        info = activity.info()
        if not info.is_local and info.heartbeat_timeout is not None:
            activity.heartbeat(*info.heartbeat_details)
        return await super().execute_activity(input)

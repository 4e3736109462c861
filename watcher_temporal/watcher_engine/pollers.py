"""Is any worker polling the plan's task queue? And since when has none been?

A plan whose task queue no worker polls would wait forever: its workflow task
is never picked up. The engine asks Temporal (``DescribeTaskQueue``) every
:data:`CHECK_SECONDS` while it follows a plan; :class:`NoWorkerWatch` keeps
when the queue was first seen without a poller and says when the engine's
``no_worker_timeout`` has passed.

Temporal lists a poller for minutes after its last poll; a poller counts only
when it polled within :data:`POLLER_FRESH_SECONDS` (a worker's long poll lasts
up to about a minute), so a worker that died is seen gone within that time.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from temporalio.api.enums.v1 import TaskQueueKind, TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

#: Seconds between two looks at the task queue's pollers.
CHECK_SECONDS = 5.0
#: A poller counts when it polled within this many seconds.
POLLER_FRESH_SECONDS = 90.0


async def recent_pollers(client: Client, task_queue: str, *, timeout: float) -> int:
    """Workers that polled the queue's workflow tasks within :data:`POLLER_FRESH_SECONDS`."""
    response = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=client.namespace,
            task_queue=TaskQueue(name=task_queue, kind=TaskQueueKind.TASK_QUEUE_KIND_NORMAL),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        ),
        timeout=timedelta(seconds=timeout),
    )
    fresh_after = datetime.now(UTC) - timedelta(seconds=POLLER_FRESH_SECONDS)
    return sum(
        1
        for poller in response.pollers
        if not poller.HasField("last_access_time") or poller.last_access_time.ToDatetime(UTC) >= fresh_after
    )


class NoWorkerWatch:
    """When the plan's queue was first seen without a poller, and whether the deadline passed.

    Args:
        timeout: Seconds without a poller before the plan fails (``no_worker_timeout``).
    """

    def __init__(self, *, timeout: float) -> None:
        self._timeout = timeout
        self._clock = time.monotonic
        self._next_check = 0.0
        self.missing_since: float | None = None

    def due(self) -> bool:
        """Whether it is time to look at the pollers again."""
        return self._clock() >= self._next_check

    def seen(self, pollers: int) -> None:
        """Record one look: ``pollers`` workers poll the queue now."""
        now = self._clock()
        self._next_check = now + CHECK_SECONDS
        if pollers:
            self.missing_since = None
        elif self.missing_since is None:
            self.missing_since = now

    def expired(self) -> bool:
        """Whether the queue has had no poller for longer than the timeout."""
        return self.missing_since is not None and self._clock() - self.missing_since >= self._timeout

    def seconds_left(self) -> float:
        assert self.missing_since is not None
        return max(0.0, self._timeout - (self._clock() - self.missing_since))

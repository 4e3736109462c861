"""Is a worker polling the task queue? Temporal says, so the CLI never hangs in silence."""

from __future__ import annotations

import asyncio
import sys
import time

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from watcher_temporal.cli.exit_codes import CommandError, ExitCode
from watcher_temporal.cli.render import safe

_POLL_SECONDS = 0.5
_QUEUE_TYPES = (TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY)


async def poller_counts(client: Client, task_queue: str) -> tuple[int, int]:
    """``(workflow pollers, activity pollers)`` Temporal has seen recently on ``task_queue``."""
    counts = []
    for queue_type in _QUEUE_TYPES:
        response = await client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=client.namespace,
                task_queue=TaskQueue(name=task_queue),
                task_queue_type=queue_type,
            )
        )
        counts.append(len(response.pollers))
    return counts[0], counts[1]


def no_worker_message(task_queue: str, counts: tuple[int, int]) -> str:
    """What to tell the user when a kind of poller is missing."""
    return (
        f"no worker polls task queue {safe(task_queue, limit=200)} in this namespace "
        f"(workflow pollers {counts[0]}, activity pollers {counts[1]}); "
        "start one with `watcher-temporal-worker` (same TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_TASK_QUEUE)"
    )


async def check_worker(client: Client, task_queue: str, *, required: bool, wait_seconds: float) -> bool:
    """Whether a worker polls ``task_queue``; warns on stderr when none does.

    Args:
        client: The command's client.
        task_queue: The queue the workflow runs on.
        required: The command cannot do its job without a worker
            (``--wait``, ``--dry-run``): wait up to ``wait_seconds`` for one,
            then raise.
        wait_seconds: How long a required worker may take to appear.

    Raises:
        CommandError: ``NO_WORKER``, when ``required`` and none appeared.
    """
    counts = await poller_counts(client, task_queue)
    if all(counts):
        return True
    deadline = time.monotonic() + max(0.0, wait_seconds)
    if required:
        while time.monotonic() < deadline:
            await asyncio.sleep(_POLL_SECONDS)
            counts = await poller_counts(client, task_queue)
            if all(counts):
                return True
        raise CommandError(ExitCode.NO_WORKER, "NoWorker", no_worker_message(task_queue, counts))
    print(
        f"watcher-temporal: warning: {no_worker_message(task_queue, counts)}; it runs when one starts", file=sys.stderr
    )
    return False

"""The worker's first heartbeat: at once when an attempt starts, with the details it resumed from.

A real worker built by ``build_worker`` (no Nova: stand-in activities) on the
dev server. The activity under test never heartbeats by itself before it
fails or blocks, so whatever the server holds came from the worker's beat at start.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():  # the workflow below is sandboxed with this module
    import pytest
    from temporalio.testing import WorkflowEnvironment

    from tests.conditions import until
    from watcher_temporal.activities.nova import NovaGateway
    from watcher_temporal.config import WorkerSettings
    from watcher_temporal.worker import build_worker

pytestmark = pytest.mark.integration

RESUME_STATE = {"polls": 7}


@activity.defn(name="first-heartbeat.resumes")
async def resumes() -> list[object]:
    """Attempt 1 leaves resume state; attempt 2 only fails; attempt 3 returns the details it was given.

    The sleeps outlast the worker's 1 s heartbeat throttle, so the last beat of
    each attempt is the one the server keeps: attempt 2's is the worker's beat
    at start, which must carry attempt 1's state on to attempt 3.
    """
    info = activity.info()
    if info.attempt == 1:
        activity.heartbeat(RESUME_STATE)
    if info.attempt < 3:
        await asyncio.sleep(1.5)
        raise RuntimeError(f"attempt {info.attempt} fails")
    return list(info.heartbeat_details)


@activity.defn(name="first-heartbeat.silent")
async def silent() -> None:
    """Never heartbeats by itself: only the worker's beat at start reaches the server."""
    await asyncio.sleep(3600)


@workflow.defn(name="FirstHeartbeatProbe")
class Probe:
    @workflow.run
    async def run(self, which: str) -> list[object]:
        if which == "resumes":
            return await workflow.execute_activity(
                resumes,
                start_to_close_timeout=timedelta(seconds=30),
                heartbeat_timeout=timedelta(seconds=10),
                retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=100), maximum_attempts=3),
            )
        await workflow.execute_activity(
            silent, start_to_close_timeout=timedelta(hours=1), heartbeat_timeout=timedelta(hours=1)
        )
        return []


async def test_a_retried_attempt_beats_at_start_without_erasing_its_resume_state(dev_env: WorkflowEnvironment) -> None:
    task_queue = f"first-beat-{uuid.uuid4().hex[:8]}"
    nova = NovaGateway(connect=lambda: None)  # never called: stand-in activities
    async with build_worker(
        dev_env.client,
        task_queue=task_queue,
        nova=nova,
        workflows=[Probe],
        activities=[resumes, silent],
        settings=WorkerSettings(shutdown_seconds=1),  # the silent activity hears no cancel: do not wait for it
    ):
        details = await dev_env.client.execute_workflow(
            Probe.run, "resumes", id=f"first-beat-{uuid.uuid4().hex[:8]}", task_queue=task_queue
        )
        assert details == [RESUME_STATE]

        handle = await dev_env.client.start_workflow(
            Probe.run, "silent", id=f"first-beat-{uuid.uuid4().hex[:8]}", task_queue=task_queue
        )

        async def beaten() -> bool:
            pending = (await handle.describe()).raw_description.pending_activities
            return bool(pending) and pending[0].last_heartbeat_time.seconds > 0

        try:
            await until(beaten, timeout=20, what="the silent activity's heartbeat at start reached the server")
        finally:
            await handle.terminate()

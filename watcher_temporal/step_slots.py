"""Activity slots that bound the short steps one worker runs at once, not the waits.

Every migration in flight holds one activity slot for its wait, so the
worker's activity slots are sized for a thousand. The short steps
(pre_execute, execute, post_execute, reverts, drain steps...) are different: each
makes Nova requests and heartbeats every second from the moment the worker
takes it. A start burst of hundreds of migrations on one worker used to take
hundreds of steps at once: they queued behind a slow Nova, their heartbeats
(each one a write on the Temporal server) and the GIL contention made the
server time live attempts out and retry them, over and over.

:class:`StepSlots` is the worker's activity slot supplier. It hands out at
most ``total`` slots, like a fixed-size supplier, and in addition does not
poll for another activity while ``steps`` short steps are running. A step
left on the task queue has not started: no heartbeat timeout runs for it, and
another worker on the queue may take it. Only the types named as steps
(``step_types``: the migration's short steps) count against ``steps``; waits,
reverts and other activities do not, so a thousand waits still fit and a
long activity never blocks the queue. Each poller holds one slot while it
polls, so at most ``steps`` plus the number of pollers run at once.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterable

from temporalio.worker import (
    CustomSlotSupplier,
    SlotMarkUsedContext,
    SlotPermit,
    SlotReleaseContext,
    SlotReserveContext,
)


class StepPermit(SlotPermit):
    """One activity slot; ``step`` once the task it got is a short step."""

    def __init__(self) -> None:
        self.step = False


class StepSlots(CustomSlotSupplier):
    """At most ``total`` activity slots, and no new poll while ``steps`` short steps run.

    Args:
        total: Activity slots in all (waits included).
        steps: Short steps running at once before the worker stops polling.
        step_types: Activity types that count as short steps.
    """

    def __init__(self, *, total: int, steps: int, step_types: Iterable[str]) -> None:
        if total < 1 or steps < 1:
            raise ValueError("total and steps must be at least 1")
        self.total = total
        self.steps = steps
        self._step_types = frozenset(step_types)
        # The SDK calls mark_slot_used/release_slot from its core's threads, and
        # reserve_slot on the event loop: counters under a lock, wake-ups through
        # the loop.
        self._lock = threading.Lock()
        self._held = 0
        self._running_steps = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._changed: asyncio.Event | None = None
        #: Most short steps seen running at once (for tests and benchmarks).
        self.peak_steps = 0

    @property
    def running_steps(self) -> int:
        """Short steps running now."""
        return self._running_steps

    def _take(self) -> StepPermit | None:
        with self._lock:
            if self._held >= self.total or self._running_steps >= self.steps:
                return None
            self._held += 1
            return StepPermit()

    async def reserve_slot(self, ctx: SlotReserveContext) -> SlotPermit:
        """Wait until a slot is free and fewer than ``steps`` short steps run."""
        if self._changed is None:
            self._loop = asyncio.get_running_loop()
            self._changed = asyncio.Event()
        while True:
            self._changed.clear()  # before looking: a release after the look wakes the wait below
            permit = self._take()
            if permit is not None:
                return permit
            await self._changed.wait()

    def try_reserve_slot(self, ctx: SlotReserveContext) -> SlotPermit | None:
        """The same without waiting (eager activities)."""
        return self._take()

    def mark_slot_used(self, ctx: SlotMarkUsedContext) -> None:
        """Count the task as a short step if its type is one."""
        permit = ctx.permit
        activity_type = getattr(ctx.slot_info, "activity_type", None)
        if isinstance(permit, StepPermit) and activity_type in self._step_types:
            with self._lock:
                permit.step = True
                self._running_steps += 1
                self.peak_steps = max(self.peak_steps, self._running_steps)

    def release_slot(self, ctx: SlotReleaseContext) -> None:
        """Free the slot (and its step) and wake a waiting reservation."""
        permit = ctx.permit
        with self._lock:
            self._held -= 1
            if isinstance(permit, StepPermit) and permit.step:
                permit.step = False
                self._running_steps -= 1
        loop, changed = self._loop, self._changed
        if loop is not None and changed is not None and not loop.is_closed():
            loop.call_soon_threadsafe(changed.set)

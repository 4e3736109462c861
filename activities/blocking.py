"""Run one blocking Nova call from an activity: in a thread, heartbeating, never abandoned.

openstacksdk blocks, so activities run its calls in the loop's executor. While
the call runs this module heartbeats every :data:`HEARTBEAT_EVERY` seconds
(with the activity's current details), so a dead worker is noticed within the
activity's heartbeat timeout and a cancel reaches the activity quickly.

A thread cannot be interrupted: when the activity is cancelled mid-call, the
cancel waits until the call has returned before it propagates. With
``WAIT_CANCELLATION_COMPLETED`` on the workflow side, the compensation
therefore never runs while a Nova request of the cancelled step is still in
flight.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from temporalio import activity

T = TypeVar("T")

#: Seconds between two heartbeats while a blocking call runs (the SDK
#: throttles what it sends to the server to 80 % of the heartbeat timeout).
HEARTBEAT_EVERY = 1.0


async def call_blocking(fn: Callable[..., T], *args: Any, details: Sequence[Any] = ()) -> T:
    """Run ``fn(*args)`` in a thread, heartbeating ``details`` until it returns.

    Args:
        fn: The blocking call.
        *args: Its arguments.
        details: The heartbeat details to send while it runs (the
            activity's resume state); none by default.

    Raises:
        asyncio.CancelledError: the activity was cancelled; raised only once
            ``fn`` has returned.
    """
    call = asyncio.ensure_future(asyncio.to_thread(fn, *args))
    beating = activity.in_activity()
    try:
        while True:
            done, _ = await asyncio.wait({call}, timeout=HEARTBEAT_EVERY)
            if done:
                return call.result()
            if beating:
                activity.heartbeat(*details)
    except asyncio.CancelledError:
        await asyncio.wait({call})  # let the thread finish: nothing may act behind the compensation
        if not call.cancelled() and call.exception() is not None:
            call.exception()  # retrieved: the cancel is what matters now
        raise


async def sleep_heartbeating(seconds: float, *, details: Sequence[Any] = ()) -> None:
    """Sleep ``seconds``, heartbeating ``details`` every :data:`HEARTBEAT_EVERY` seconds.

    A pause longer than the heartbeat timeout (a long poll interval, a
    growing back-off) then never makes a live worker look dead. Pass the
    activity's resume state as ``details``: a heartbeat replaces the last.
    """
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while (left := end - loop.time()) > 0:
        await asyncio.sleep(min(left, HEARTBEAT_EVERY))
        if activity.in_activity():
            activity.heartbeat(*details)


def cancel_requested() -> bool:
    """True once the running activity has been asked to stop (safe from the Nova thread)."""
    return activity.in_activity() and activity.is_cancelled()

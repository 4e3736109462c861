"""Waiting on conditions instead of sleeping (shared by every test package)."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable

import pytest


async def until(predicate: Callable[[], Awaitable[bool] | bool], *, timeout: float, what: str) -> None:
    """Await ``predicate`` (sync or async), polled every 50 ms.

    Fails the test naming ``what`` when it does not hold within ``timeout``.
    """
    try:
        async with asyncio.timeout(timeout):
            while True:
                value = predicate()
                if inspect.isawaitable(value):
                    value = await value
                if value:
                    return
                await asyncio.sleep(0.05)
    except TimeoutError:
        pytest.fail(f"timed out after {timeout}s waiting until {what}")

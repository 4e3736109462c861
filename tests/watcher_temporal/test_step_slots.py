"""The worker's activity slots: short steps bounded, waits not, releases from any thread."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass

import pytest
from temporalio.worker import SlotPermit

from watcher_temporal.contract import MigrateActivity
from watcher_temporal.step_slots import StepSlots
from watcher_temporal.worker import STEP_TYPES

STEP = MigrateActivity.PRE_EXECUTE.value
WAIT = MigrateActivity.WAIT.value


@dataclass(frozen=True)
class Info:
    activity_type: str


@dataclass(frozen=True)
class Used:
    slot_info: Info
    permit: SlotPermit


@dataclass(frozen=True)
class Released:
    slot_info: Info | None
    permit: SlotPermit


def use(slots: StepSlots, permit: SlotPermit, activity_type: str) -> None:
    slots.mark_slot_used(Used(Info(activity_type), permit))  # type: ignore[arg-type]


def release(slots: StepSlots, permit: SlotPermit, activity_type: str | None) -> None:
    slots.release_slot(Released(Info(activity_type) if activity_type else None, permit))  # type: ignore[arg-type]


async def reserve(slots: StepSlots) -> SlotPermit:
    return await slots.reserve_slot(None)  # type: ignore[arg-type]


async def still_waiting(task: asyncio.Task[SlotPermit]) -> bool:
    for _ in range(20):  # let the loop run: the reservation can only finish after a release
        await asyncio.sleep(0)
    return not task.done()


async def test_no_poll_while_the_step_limit_is_reached_and_a_released_step_frees_one() -> None:
    slots = StepSlots(total=100, steps=2, step_types={STEP})
    first, second = await reserve(slots), await reserve(slots)
    use(slots, first, STEP)
    use(slots, second, STEP)
    assert slots.running_steps == 2
    waiting = asyncio.ensure_future(reserve(slots))
    assert await still_waiting(waiting)
    assert slots.try_reserve_slot(None) is None  # type: ignore[arg-type]  # eager tasks too
    release(slots, first, STEP)
    async with asyncio.timeout(10):
        third = await waiting
    assert slots.running_steps == 1 and slots.peak_steps == 2
    release(slots, third, None)  # reserved for a poll that got nothing
    release(slots, second, STEP)
    assert slots.running_steps == 0


async def test_waits_do_not_count_as_steps_but_count_against_the_total() -> None:
    slots = StepSlots(total=3, steps=1, step_types={STEP})
    permits = [await reserve(slots) for _ in range(3)]
    for permit in permits:
        use(slots, permit, WAIT)
    assert slots.running_steps == 0
    waiting = asyncio.ensure_future(reserve(slots))
    assert await still_waiting(waiting)  # three slots held by waits: the total binds
    release(slots, permits[0], WAIT)
    async with asyncio.timeout(10):
        await waiting


async def test_a_release_from_another_thread_wakes_the_reservation() -> None:
    slots = StepSlots(total=10, steps=1, step_types={STEP})
    permit = await reserve(slots)
    use(slots, permit, STEP)
    waiting = asyncio.ensure_future(reserve(slots))
    assert await still_waiting(waiting)
    releaser = threading.Thread(target=release, args=(slots, permit, STEP))  # the SDK core's threads do this
    releaser.start()
    async with asyncio.timeout(10):
        await waiting
    releaser.join()


def test_the_bounded_steps_are_the_migration_steps_not_its_wait_or_revert() -> None:
    assert STEP_TYPES >= {MigrateActivity.PRE_EXECUTE.value, MigrateActivity.EXECUTE.value}
    assert not STEP_TYPES & {MigrateActivity.WAIT.value, MigrateActivity.REVERT.value}
    with pytest.raises(ValueError):
        StepSlots(total=0, steps=1, step_types=STEP_TYPES)

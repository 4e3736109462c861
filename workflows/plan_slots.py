"""The limits of a plan's window: which ready action fits now, in plan order.

Every limited resource is a key: a host (either way), a source, a named
destination, an exclusive group. An action whose parents are done waits in
``ready`` (ordered by plan position); one that does not fit is parked on the
first full key it meets and comes back only when that key frees a slot or
the limits change. So finding what to start costs O(what changed), never
O(plan), and actions still start in plan order among those that fit.
Bookkeeping only: no Temporal call.
"""

from __future__ import annotations

import heapq
import math
from collections import Counter
from collections.abc import Container

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from watcher_temporal.contract import MAX_PARALLEL_LIMIT, PlanState, WindowLimits, parse_limits_change
    from watcher_temporal.errors import InvalidInput, refused_update

#: A limited resource: ``("host"|"source"|"destination"|"group", name)``.
Key = tuple[str, str]
#: An action's place in the queues: its plan position first.
Entry = tuple[int, str]


class Slots:
    """The load on every key, and the ready actions in plan order."""

    def __init__(self) -> None:
        self.limits = WindowLimits(max_parallel=1, max_parallel_per_host=1)
        self._keys: dict[str, tuple[Key, ...]] = {}
        self._load: Counter[Key] = Counter()
        self._ready: list[Entry] = []
        self._parked: dict[Key, list[Entry]] = {}
        #: (first parked position, key) of keys that may have room; checked when met.
        self._open: list[tuple[int, Key]] = []

    def add(self, action_id: str, ends: tuple[str, str | None] | None, groups: tuple[str, ...]) -> None:
        """Know the keys of one action (at load): a migration's source and destination, and its groups."""
        self._keys[action_id] = keys_of(ends, groups)

    def make_ready(self, index: int, action_id: str) -> None:
        """An action's parents are done: it may start once it fits."""
        heapq.heappush(self._ready, (index, action_id))

    def set_limits(self, limits: WindowLimits) -> None:
        """Apply new limits; every parked action gets another look."""
        self.limits = limits
        for key, parked in self._parked.items():
            if parked:
                heapq.heappush(self._open, (parked[0][0], key))

    def next_fitting(self, pending: Container[str]) -> str | None:
        """Take the first ready action (in plan order) that fits every limit, and count it."""
        while (entry := self._next_candidate()) is not None:
            action_id = entry[1]
            if action_id not in pending:
                continue
            full = next((k for k in self._keys[action_id] if self._load[k] >= self._capacity(k)), None)
            if full is None:
                self._load.update(self._keys[action_id])
                return action_id
            heapq.heappush(self._parked.setdefault(full, []), entry)
        return None

    def release(self, action_id: str) -> None:
        """A running action ended: free its slots (its keys' parked actions get a look)."""
        self._load.subtract(self._keys[action_id])
        for key in self._keys[action_id]:
            parked = self._parked.get(key)
            if parked:
                heapq.heappush(self._open, (parked[0][0], key))

    def clear(self) -> None:
        """Nothing waits any more (the plan stopped or was cancelled)."""
        self._ready.clear()
        self._parked.clear()
        self._open.clear()

    def _next_candidate(self) -> Entry | None:
        """The first action in plan order among the ready ones and those parked under a key with room."""
        while self._open:
            index, key = self._open[0]
            parked = self._parked.get(key)
            if parked and parked[0][0] == index and self._load[key] < self._capacity(key):
                break
            heapq.heappop(self._open)  # stale: the key is full again, or its first action moved on
        if self._open and (not self._ready or self._open[0][0] < self._ready[0][0]):
            key = heapq.heappop(self._open)[1]
            parked = self._parked[key]
            entry = heapq.heappop(parked)
            if parked:
                heapq.heappush(self._open, (parked[0][0], key))
            return entry
        return heapq.heappop(self._ready) if self._ready else None

    def _capacity(self, key: Key) -> float:
        kind, limits = key[0], self.limits
        if kind == "host":
            return limits.max_parallel_per_host
        if kind == "group":
            return 1
        limit = limits.max_parallel_per_source if kind == "source" else limits.max_parallel_per_destination
        return math.inf if limit is None else limit


def keys_of(ends: tuple[str, str | None] | None, groups: tuple[str, ...]) -> tuple[Key, ...]:
    """The keys one action counts on: a migration's hosts either way, its source and destination; its groups."""
    if ends is None:  # not a migration: its groups only (most often none)
        return tuple(("group", g) for g in groups) if groups else ()
    source, destination = ends
    keys: list[Key] = [("host", source), ("source", source)]
    if destination:
        keys.append(("destination", destination))
        if destination != source:
            keys.append(("host", destination))
    if groups:
        keys += [("group", g) for g in groups]
    return tuple(keys)


def check_max_parallel(value: object, state: PlanState, *, loaded: bool = True) -> None:
    """Refuse a ``set_max_parallel`` update (non-retryable, field and rule named)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_PARALLEL_LIMIT:
        rule = f"an integer from 1 to {MAX_PARALLEL_LIMIT}"
        raise InvalidInput(f"max_parallel must be {rule}", [{"field": "max_parallel", "rule": rule}])
    if state not in (PlanState.PENDING, PlanState.ONGOING):
        raise refused_update(f"the plan is {state.value}; its limits no longer matter")
    _refuse_unloaded(loaded)


def check_limits_change(change: object, state: PlanState, *, loaded: bool) -> None:
    """Refuse a ``set_limits`` update (non-retryable, field and rule named)."""
    try:
        parse_limits_change(change)
    except ValueError as err:
        raise InvalidInput(str(err), [{"field": "(update)", "rule": str(err)}]) from None
    if state not in (PlanState.PENDING, PlanState.ONGOING):
        raise refused_update(f"the plan is {state.value}; its limits no longer matter")
    _refuse_unloaded(loaded)


def _refuse_unloaded(loaded: bool) -> None:
    """Until the window is loaded, the load would overwrite a changed limit: refuse, do not lose it."""
    if not loaded:
        raise refused_update("the plan is not running yet (being read, or a drain builds it); try again in a moment")

"""Behaviour knobs of a running localnova cloud.

The knobs are plain data shared by the fake virt driver (migration timing and
failures), the fault-injection middleware (transport faults) and the control
API (which reads and patches them at runtime).  This module imports nothing
from Nova so that the harness and the CLI parser can use it cheaply.
"""

from __future__ import annotations

import dataclasses
import math
import threading
from collections.abc import Callable
from typing import Any

#: Knob names whose values are lists of host names.
_LIST_KNOBS = (
    "live_migration_fail_hosts",
    "cold_migration_fail_hosts",
    "live_migration_stall_hosts",
    "live_migration_stall_servers",
    "fault_methods",
)
#: Knob names whose values are probabilities in [0, 1].
_RATE_KNOBS = ("fault_500_rate", "fault_503_rate", "fault_drop_rate", "fault_lost_response_rate")
#: Knob names whose values are whole numbers >= 0.
_COUNT_KNOBS = ("max_concurrent_live_migrations",)


@dataclasses.dataclass
class Knobs:
    """The tunable behaviour of the cloud.

    Attributes:
        live_migration_seconds: How long a live migration takes (the driver
            writes memory progress on the migration record meanwhile).
            0 means "as fast as Nova can go".
        live_migration_mib_per_second: If > 0, the copy speed of a live
            migration instead of a fixed duration: it takes (flavor RAM +
            root disk for a block migration) / this many seconds, so
            bigger servers take longer.
        live_migration_prepare_seconds: How long a live migration stays
            ``preparing`` (the destination's ``pre_live_migration``), so
            that an abort of a preparing migration (2.65) can be tested.
        live_migration_stall_hosts: Destination hosts on which a live
            migration stalls: the memory copy stops at half (remaining
            memory no longer decreases) until force-complete (the guest is
            paused and the copy finishes) or abort.
        live_migration_stall_servers: Server UUIDs whose live migrations
            stall the same way, whatever the destination.
        cold_migration_seconds: How long the disk copy of a cold migration /
            resize takes on the source host before VERIFY_RESIZE.
        live_migration_fail_hosts: Destination hosts on which a live
            migration fails half way (migration ``error``, server back to
            ACTIVE on its source).
        cold_migration_fail_hosts: Destination hosts on which a cold
            migration fails (migration ``error``, server ACTIVE on source).
        fault_500_rate: Probability that a Compute API request gets an HTTP
            500 without reaching Nova.
        fault_503_rate: Probability of an HTTP 503 (with Retry-After: 0).
        fault_drop_rate: Probability that the socket is closed without any
            response (clients see a connection reset / remote disconnect).
            The request never reaches Nova.
        fault_lost_response_rate: Probability that the request reaches
            Nova and runs (a POST takes effect) but the connection is then
            closed without sending Nova's answer: the client cannot tell
            whether it was applied.
        latency_ms: Latency added to every Compute API request.
        fault_methods: HTTP methods the faults and latency apply to; empty
            means all methods.
        max_concurrent_live_migrations: Live migrations a compute host runs
            at once as their source (Nova's ``max_concurrent_live_migrations``,
            per host; default 1 as in Nova); further ones stay ``queued`` in
            that compute until a worker is free (an abort then cancels them,
            2.65).  0 means unlimited (1,000 per host, Nova's eventlet mode).
        link_mib_per_second: Bandwidth mode when > 0: every host has a
            full-duplex link of this many MiB/s each way, shared max-min
            fairly by the migrations crossing it; a live migration copies
            (root disk if block migration, then) memory in pre-copy rounds,
            a cold one copies root + ephemeral disk, and the fixed-seconds
            knobs (``live_migration_seconds``, ``live_migration_mib_per_second``,
            ``cold_migration_seconds``) are ignored.  0 (default): simple mode.
        dirty_mib_per_second: Bandwidth mode: how fast a guest dirties its
            memory during a live migration (each pre-copy round re-copies
            what the previous one left dirty).
        live_migration_downtime_ms: Bandwidth mode: the stop-and-copy
            threshold (Nova's ``[libvirt] live_migration_downtime``, 500):
            pre-copy stops when the rest fits in this time at the current rate.
        live_migration_completion_timeout: Bandwidth mode: seconds per GiB of
            data after which a live migration that does not converge is
            aborted (Nova's ``[libvirt] live_migration_completion_timeout``,
            800; 0 = never): migration ``cancelled``, server on its source.
    """

    live_migration_seconds: float = 0.0
    live_migration_mib_per_second: float = 0.0
    live_migration_prepare_seconds: float = 0.0
    cold_migration_seconds: float = 0.0
    live_migration_fail_hosts: list[str] = dataclasses.field(default_factory=list)
    cold_migration_fail_hosts: list[str] = dataclasses.field(default_factory=list)
    live_migration_stall_hosts: list[str] = dataclasses.field(default_factory=list)
    live_migration_stall_servers: list[str] = dataclasses.field(default_factory=list)
    fault_500_rate: float = 0.0
    fault_503_rate: float = 0.0
    fault_drop_rate: float = 0.0
    fault_lost_response_rate: float = 0.0
    latency_ms: float = 0.0
    fault_methods: list[str] = dataclasses.field(default_factory=list)
    max_concurrent_live_migrations: int = 1
    link_mib_per_second: float = 0.0
    dirty_mib_per_second: float = 0.0
    live_migration_downtime_ms: float = 500.0
    live_migration_completion_timeout: float = 800.0

    def to_dict(self) -> dict[str, Any]:
        """Return the knobs as a JSON-serialisable dict."""
        return dataclasses.asdict(self)


KNOB_NAMES: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(Knobs))


def validate(changes: dict[str, Any]) -> dict[str, Any]:
    """Check and normalise a partial knob update.

    Args:
        changes: Mapping of knob name to new value (as decoded from JSON or
            given as Python keyword arguments).

    Returns:
        The normalised mapping (lists of strings, floats).

    Raises:
        ValueError: On unknown knob names or invalid values.
    """
    out: dict[str, Any] = {}
    for name, value in changes.items():
        if name not in KNOB_NAMES:
            raise ValueError(f"unknown knob {name!r}; known: {list(KNOB_NAMES)}")
        if name in _LIST_KNOBS:
            if value is None:
                value = []
            if isinstance(value, str):
                value = [v for v in value.split(",") if v]
            if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
                raise ValueError(f"{name} must be a list of strings")
            value = list(value)
            if name == "fault_methods":
                value = [v.upper() for v in value]
        elif name in _COUNT_KNOBS:
            value = _count(name, value)
        else:
            if isinstance(value, bool):
                raise ValueError(f"{name} must be a number, not a boolean")
            try:
                value = float(value)
            except (TypeError, ValueError):
                raise ValueError(f"{name} must be a number") from None
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a finite number >= 0")
            if name in _RATE_KNOBS and value > 1:
                raise ValueError(f"{name} must be a probability in [0, 1]")
        out[name] = value
    return out


def _count(name: str, value: Any) -> int:
    """Return ``value`` as a whole number >= 0 (``2``, ``2.0`` and ``"2"`` are accepted)."""
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a whole number >= 0, not a boolean")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a whole number >= 0") from None
    if not math.isfinite(number) or number < 0 or number != int(number):
        raise ValueError(f"{name} must be a whole number >= 0")
    return int(number)


class KnobStore:
    """Thread-safe holder of the current knobs.

    Knobs that act on Nova's running objects (not read on every use) are
    applied by listeners: each one is called with the new knobs after every
    change, outside the store's lock.
    """

    def __init__(self, initial: Knobs | None = None) -> None:
        self._lock = threading.Lock()
        self._listeners: list[Callable[[Knobs], None]] = []
        self._knobs = initial or Knobs()
        # The start-up values; ``reset`` returns to these, not to the
        # dataclass defaults, so CLI flags survive a per-test reset.
        self._initial = dataclasses.replace(self._knobs)

    def set_initial(self, changes: dict[str, Any]) -> Knobs:
        """Apply start-up values and make them what ``reset`` restores."""
        knobs = self.update(changes)
        with self._lock:
            self._initial = dataclasses.replace(knobs)
        return knobs

    def get(self) -> Knobs:
        """Return a snapshot copy of the current knobs."""
        with self._lock:
            lists: dict[str, Any] = {name: list(getattr(self._knobs, name)) for name in _LIST_KNOBS}
            return dataclasses.replace(self._knobs, **lists)

    def update(self, changes: dict[str, Any]) -> Knobs:
        """Validate and apply a partial update; return the new knobs."""
        clean = validate(changes)
        with self._lock:
            self._knobs = dataclasses.replace(self._knobs, **clean)
        return self._notify()

    def reset(self) -> Knobs:
        """Restore every knob to its start-up value."""
        with self._lock:
            self._knobs = dataclasses.replace(self._initial)
        return self._notify()

    def add_listener(self, listener: Callable[[Knobs], None]) -> None:
        """Call ``listener(knobs)`` after every later change."""
        with self._lock:
            self._listeners.append(listener)

    def remove_listener(self, listener: Callable[[Knobs], None]) -> None:
        """Stop calling ``listener`` (no error if it was not added)."""
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def _notify(self) -> Knobs:
        current = self.get()
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            listener(current)
        return current


#: The process-wide store, read by the driver and the middleware.
STORE = KnobStore()

"""Watcher's actions → the input of a ``MaintenancePlan`` workflow.

Each Watcher action becomes one plan action with the same id (its uuid), type,
parameters and parents, so the workflow's status names actions exactly as
Watcher's DB does. Three adjustments:

* ``migrate``, ``stop``, ``shelve``, ``delete`` and ``resize`` get their Nova
  poll interval and deadline from Watcher's own ``[nova] migration_interval``
  and ``migration_interval * migration_max_retries``.
* An action an operator SKIPPED by hand before the plan started becomes a
  ``nop`` (its children start right away, as after a SKIPPED action), and the
  engine leaves its DB row alone.
* An action type the plan has no branch for (volume_migrate,
  change_node_power_state, third-party ones) becomes ``watcher_action``:
  Watcher's own class runs it inside an activity.

The engine's ``max_parallel_per_source`` is what Nova copies from one host
at once (its ``max_concurrent_live_migrations``). The plan's per-source limit
is that plus ``queued_per_source``: the next migration of a source is sent
while the previous one copies, so it waits ``queued`` in nova-compute with its
API and conductor steps done, and Nova starts it the instant the copy ends,
as it does for the chunks of 2 taskflow sends at once. Nova, not the plan,
then holds the copies to its limit; a queued migration is visible in Nova
(``status: queued``) and ``MigrateServer`` aborts it on cancel. Nova has no
per-host limit for cold migrations (``prep_resize``/``resize_instance`` take
no semaphore); they count on the same per-source slots and on
``max_parallel_per_host``.

Parents are kept as Watcher's planner made them, barriers between migration
chunks included, unless the ``barriers = limits`` option asks to turn those
barriers into the plan's ``max_parallel`` (:mod:`.barriers`).

A parameter the plan's models refuse (a malformed migrate, say) fails the
plan before anything runs, naming the action, the field and the rule.

Plain Python: no python-watcher import (the action objects are duck-typed).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import JsonValue

from watcher_temporal.contract import (
    DEFAULT_MAX_PARALLEL_PER_SOURCE,
    MAX_PARALLEL_LIMIT,
    ActionType,
    MaintenancePlanInput,
    OnFailure,
    validate_plan,
)
from watcher_temporal.watcher_engine.barriers import BarrierMode, migrations_without_barriers

#: Watcher's state of an action skipped by hand.
SKIPPED = "SKIPPED"
#: Watcher action types the plan knows by name; any other runs as ``watcher_action``.
NATIVE_TYPES = frozenset(t.value for t in ActionType) - {ActionType.WATCHER_ACTION.value}
#: Types that poll Nova: Watcher's ``[nova] migration_interval`` and ``migration_max_retries`` bound them.
TIMED_TYPES = frozenset(
    t.value for t in (ActionType.MIGRATE, ActionType.STOP, ActionType.SHELVE, ActionType.DELETE, ActionType.RESIZE)
)
#: Migrations per source host sent ahead of ``max_parallel_per_source`` to wait ``queued`` in
#: nova-compute (Nova starts the next one the instant a copy ends).
DEFAULT_QUEUED_PER_SOURCE = 1
#: Message of the ``nop`` standing in for an action skipped by hand.
SKIPPED_BY_HAND = "skipped by hand in Watcher before the plan started"


class WatcherAction(Protocol):
    """What the engine reads of a ``watcher.objects.Action``."""

    uuid: str
    action_type: str
    input_parameters: Any
    parents: Any
    state: str


@dataclass(frozen=True, kw_only=True)
class PlanLimits:
    """Plan-wide settings the engine's options and Watcher's ``[nova]`` group give.

    Attributes:
        on_failure: The plan's failure policy.
        max_parallel: Actions running at once.
        max_parallel_per_host: Migrations touching one host at once.
        max_parallel_per_source: Migrations copying from one host at once, Nova's
            ``max_concurrent_live_migrations`` (None: no limit).
        queued_per_source: Migrations per source sent ahead to wait queued in nova-compute.
        max_parallel_per_destination: Migrations entering one named host at once (None: no limit).
        barriers: ``keep`` Watcher's parents, or turn its barriers between
            migration chunks into ``max_parallel`` (``limits``).
        migration_interval: ``[nova] migration_interval`` (seconds).
        migration_max_retries: ``[nova] migration_max_retries``.
    """

    on_failure: OnFailure = OnFailure.STOP
    max_parallel: int = 4
    max_parallel_per_host: int = 2
    max_parallel_per_source: int | None = DEFAULT_MAX_PARALLEL_PER_SOURCE
    queued_per_source: int = DEFAULT_QUEUED_PER_SOURCE
    max_parallel_per_destination: int | None = None
    barriers: BarrierMode = BarrierMode.KEEP
    migration_interval: float = 5.0
    migration_max_retries: int = 180


def plan_input(actions: Iterable[WatcherAction], limits: PlanLimits) -> MaintenancePlanInput:
    """The ``MaintenancePlan`` input running these Watcher actions.

    Raises:
        InvalidInput: an action the plan cannot run (names every problem).
    """
    items: list[dict[str, Any]] = []
    migrations: list[str] = []
    for action in actions:
        if action.action_type == ActionType.MIGRATE.value:
            migrations.append(action.uuid)
        params = dict(action.input_parameters or {})
        action_type = action.action_type
        if action.state == SKIPPED:
            action_type, params = ActionType.NOP.value, {"message": SKIPPED_BY_HAND}
        elif action_type in TIMED_TYPES:
            params.setdefault("poll_interval_seconds", limits.migration_interval)
            params.setdefault("timeout_seconds", limits.migration_interval * limits.migration_max_retries)
        elif not _native(action_type, params):
            action_type, params = ActionType.WATCHER_ACTION.value, {"action_type": action_type, "parameters": params}
        items.append(
            {
                "id": action.uuid,
                "action_type": action_type,
                "input_parameters": params,
                "parents": list(action.parents or []),
            }
        )
    max_parallel = limits.max_parallel
    if limits.barriers is BarrierMode.LIMITS:
        parents, widest = migrations_without_barriers({item["id"]: item["parents"] for item in items}, migrations)
        items = [item | {"parents": parents[item["id"]]} for item in items]
        max_parallel = min(widest, MAX_PARALLEL_LIMIT) or max_parallel
    plan: JsonValue = {
        "actions": items,  # type: ignore[dict-item]
        "max_parallel": max_parallel,
        "max_parallel_per_host": limits.max_parallel_per_host,
        "max_parallel_per_source": _per_source(limits),
        "max_parallel_per_destination": limits.max_parallel_per_destination,
        "on_failure": limits.on_failure.value,
    }
    return validate_plan(plan)


def _per_source(limits: PlanLimits) -> int | None:
    """The plan's per-source limit: the copies Nova runs, plus the migrations queued behind them."""
    if limits.max_parallel_per_source is None:
        return None
    return min(limits.max_parallel_per_source + limits.queued_per_source, MAX_PARALLEL_LIMIT)


def _native(action_type: str, params: dict[str, Any]) -> bool:
    """Whether the plan runs this action itself (else Watcher's own class runs it).

    ``change_nova_service_state`` with Watcher's ``up``/``down`` states or
    without ``resource_name`` goes to Watcher's class, which knows them.
    """
    if action_type == ActionType.CHANGE_NOVA_SERVICE_STATE.value:
        return params.get("state") in ("enabled", "disabled") and bool(params.get("resource_name"))
    return action_type in NATIVE_TYPES


def skipped_by_hand(actions: Iterable[WatcherAction]) -> frozenset[str]:
    """Ids of the actions the engine must not write (SKIPPED before the start)."""
    return frozenset(a.uuid for a in actions if a.state == SKIPPED)

"""The vocabulary of the ``MaintenancePlan`` workflow: plan input, status, results.

The input is Watcher's own action representation, unchanged::

    {"actions": [{"id": "a1", "action_type": "migrate",
                  "input_parameters": {...}, "parents": []}, ...],
     "max_parallel": 4, "max_parallel_per_host": 2, "max_parallel_per_source": 1,
     "max_parallel_per_destination": null, "exclusive_groups": {}, "on_failure": "stop"}

:func:`validate_plan` checks the whole plan before anything runs and names
every problem at once (unknown action type, bad parameters, unknown parent,
duplicate id, cycle) as ``{action, field, rule}`` items. Like the rest of
:mod:`watcher_temporal.contract`, this module is free of I/O and openstacksdk:
workflows, activities and the CLI all import it. ``drain-host``'s messages
live in :mod:`watcher_temporal.contract.drain`, ``undrain-host``'s in
:mod:`watcher_temporal.contract.undrain`.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, NoReturn, cast

from pydantic import Field, JsonValue, SerializerFunctionWrapHandler, ValidationError, model_serializer

from watcher_temporal.contract.durations import DurationEstimates, ServerSizes
from watcher_temporal.contract.limits import (
    DEFAULT_MAX_PARALLEL_PER_SOURCE,
    MAX_PARALLEL_LIMIT,
    ExclusiveGroups,
    WindowLimits,
    exclusive_group_problems,
)
from watcher_temporal.contract.message import Message, describe_validation_error
from watcher_temporal.contract.migrate import (
    DEFAULT_POLL_INTERVAL_SECONDS,
    DEFAULT_TIMEOUT_SECONDS,
    MAX_POLL_INTERVAL_SECONDS,
    MAX_TIMEOUT_SECONDS,
    MIN_POLL_INTERVAL_SECONDS,
    HostName,
    MigrateServerInput,
    Seconds,
    ServerUUID,
)
from watcher_temporal.errors import InvalidInput, bounded_problems

#: Most actions one plan may hold (its input must fit Temporal's 2 MB payload
#: limit with room to spare, and its history must stay bounded).
MAX_PLAN_ACTIONS = 10_000
#: ``disabled_reason`` Watcher's host_maintenance strategy sets.
MAINTENANCE_DISABLED_REASON = "watcher_maintaining"


def _drop_empty(data: Any, keys: tuple[str, ...]) -> Any:
    """Leave unset fields (None, empty) out of a message's JSON: a plan of 10,000 actions, its
    status and its continue-as-new hand-over must each fit in Temporal's 2 MB payload limit.
    Reading the JSON back fills in the same defaults."""
    if type(data) is dict or isinstance(data, dict):  # ``type`` first: ``isinstance`` is slow in the sandbox
        for key in keys:
            if key in data and not data[key]:
                del data[key]
    return data


class ActionType(enum.StrEnum):
    """The Watcher action types a maintenance plan may hold."""

    MIGRATE = "migrate"
    CHANGE_NOVA_SERVICE_STATE = "change_nova_service_state"
    NOP = "nop"
    SLEEP = "sleep"
    STOP = "stop"
    SHELVE = "shelve"
    DELETE = "delete"
    RESIZE = "resize"
    #: Any other Watcher action type (volume_migrate, change_node_power_state,
    #: third-party ones): Watcher's own class runs inside an activity.
    WATCHER_ACTION = "watcher_action"


class OnFailure(enum.StrEnum):
    """What the plan does once an action FAILED.

    * ``continue``: keep running everything that does not depend on it.
    * ``stop``: start nothing new; running actions finish.
    * ``rollback``: stop, then revert every completed action in reverse
      order of completion.
    * ``watcher``: what Watcher's taskflow engine does (decider ``ALWAYS``):
      keep going, and the children of a FAILED action still run.
    """

    CONTINUE = "continue"
    STOP = "stop"
    ROLLBACK = "rollback"
    WATCHER = "watcher"


class PlanState(enum.StrEnum):
    """Watcher's action plan states."""

    PENDING = "PENDING"
    ONGOING = "ONGOING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLING = "CANCELLING"
    CANCELLED = "CANCELLED"


class ActionState(enum.StrEnum):
    """Watcher's action states."""

    PENDING = "PENDING"
    ONGOING = "ONGOING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    SKIPPED = "SKIPPED"
    CANCELLED = "CANCELLED"


#: States after which an action does nothing more (before any rollback).
FINAL_ACTION_STATES = frozenset({ActionState.SUCCEEDED, ActionState.FAILED, ActionState.SKIPPED, ActionState.CANCELLED})
#: Parent states that let a child action start.
DONE_ACTION_STATES = frozenset({ActionState.SUCCEEDED, ActionState.SKIPPED})


class ServiceState(enum.StrEnum):
    """A nova-compute service's scheduling state."""

    ENABLED = "enabled"
    DISABLED = "disabled"


class ChangeNovaServiceStateParams(Message):
    """``input_parameters`` of Watcher's ``change_nova_service_state``.

    Attributes:
        resource_name: Compute host whose nova-compute service changes.
        resource_id: Accepted for compatibility with Watcher; unused.
        state: ``enabled`` or ``disabled``.
        disabled_reason: Reason recorded when disabling.
    """

    resource_name: HostName
    resource_id: str | None = None
    state: ServiceState
    disabled_reason: str | None = Field(default=None, max_length=255)


class NopParams(Message):
    """``input_parameters`` of Watcher's ``nop``: a message to log."""

    message: str = Field(default="", max_length=1000)


class SleepParams(Message):
    """``input_parameters`` of Watcher's ``sleep`` (seconds)."""

    duration: Seconds = Field(default=1.0, ge=0, le=MAX_TIMEOUT_SECONDS)


class ServerParams(Message):
    """``input_parameters`` of Watcher's ``stop``, ``shelve`` and ``delete``.

    Attributes:
        resource_id: UUID of the server.
        poll_interval_seconds: How often Nova is polled while waiting
            (the engine sets Watcher's ``[nova] migration_interval``).
        timeout_seconds: How long the action may wait for Nova.
    """

    resource_id: ServerUUID
    poll_interval_seconds: Seconds = Field(
        default=DEFAULT_POLL_INTERVAL_SECONDS, ge=MIN_POLL_INTERVAL_SECONDS, le=MAX_POLL_INTERVAL_SECONDS
    )
    timeout_seconds: Seconds = Field(default=DEFAULT_TIMEOUT_SECONDS, ge=1, le=MAX_TIMEOUT_SECONDS)


class ResizeParams(ServerParams):
    """``input_parameters`` of Watcher's ``resize``: the server and the flavor (name or id)."""

    flavor: str = Field(min_length=1, max_length=255)


class GenericActionParams(Message):
    """``input_parameters`` of ``watcher_action``: another Watcher action type and its parameters.

    Attributes:
        action_type: A name registered in Watcher's ``watcher_actions`` entry points.
        parameters: That action's own ``input_parameters``.
    """

    action_type: str = Field(min_length=1, max_length=255, pattern=r"^[A-Za-z0-9_.:-]+$")
    parameters: dict[str, JsonValue] = Field(default_factory=dict)


ActionParams = (
    MigrateServerInput
    | ChangeNovaServiceStateParams
    | NopParams
    | SleepParams
    | ServerParams
    | ResizeParams
    | GenericActionParams
)

#: Parameter model of each action type.
PARAMS_MODEL: dict[ActionType, type[Message] | type[MigrateServerInput]] = {
    ActionType.MIGRATE: MigrateServerInput,
    ActionType.CHANGE_NOVA_SERVICE_STATE: ChangeNovaServiceStateParams,
    ActionType.NOP: NopParams,
    ActionType.SLEEP: SleepParams,
    ActionType.STOP: ServerParams,
    ActionType.SHELVE: ServerParams,
    ActionType.DELETE: ServerParams,
    ActionType.RESIZE: ResizeParams,
    ActionType.WATCHER_ACTION: GenericActionParams,
}
#: Action types run on one server by ``plan.server_action`` (Watcher's semantics, our Nova gateway).
SERVER_ACTION_TYPES = frozenset({ActionType.STOP, ActionType.SHELVE, ActionType.DELETE, ActionType.RESIZE})


class PlanAction(Message):
    """One action of a plan, as Watcher represents it."""

    id: str = Field(min_length=1, max_length=255)
    action_type: ActionType
    input_parameters: dict[str, JsonValue] = Field(default_factory=dict)
    parents: list[str] = Field(default_factory=list, max_length=MAX_PLAN_ACTIONS)

    @model_serializer(mode="wrap")
    def _without_unset(self, handler: SerializerFunctionWrapHandler) -> Any:
        return _drop_empty(handler(self), ("input_parameters", "parents"))

    def params(self) -> ActionParams:
        """The typed parameters (valid once :func:`validate_plan` passed); each call validates them."""
        model = PARAMS_MODEL[self.action_type]
        return model.model_validate(self.input_parameters)  # type: ignore[return-value]


def migration_hosts(params: MigrateServerInput | None) -> frozenset[str]:
    """Hosts a migration loads (its source and named destination); none for another action."""
    if params is None:
        return frozenset()
    return frozenset(h for h in (params.source_node, params.destination_node) if h)


class MaintenancePlanInput(Message):
    """Input of the ``MaintenancePlan`` workflow.

    Attributes:
        actions: Watcher actions; ``parents`` name actions that must be
            SUCCEEDED or SKIPPED first.
        max_parallel: Actions running at once, all types together.
        max_parallel_per_host: Migrations touching one host (as source or
            destination) at once.
        max_parallel_per_source: Migrations leaving one source host at once
            (default 1, Nova's ``max_concurrent_live_migrations``); null: no limit.
        max_parallel_per_destination: Migrations entering one named
            destination host at once; null (default): no limit. A migration
            whose destination the scheduler picks counts only on its source.
        exclusive_groups: Group name → action ids; at most one action of a
            group runs at a time (e.g. the members of an anti-affinity server group).
        on_failure: ``continue``, ``stop`` or ``rollback``.
        max_history_events: The workflow continues as new once its history
            holds this many events (or when Temporal suggests it earlier).
        server_sizes: Server UUID → its flavor's RAM and disk, for the
            longest-first order and the ETA. Absent: the plan reads them
            from Nova before it starts anything (``plan.migration_sizes``).
    """

    actions: list[PlanAction] = Field(max_length=MAX_PLAN_ACTIONS)
    max_parallel: int = Field(default=4, ge=1, le=MAX_PARALLEL_LIMIT)
    max_parallel_per_host: int = Field(default=2, ge=1, le=MAX_PARALLEL_LIMIT)
    max_parallel_per_source: int | None = Field(default=DEFAULT_MAX_PARALLEL_PER_SOURCE, ge=1, le=MAX_PARALLEL_LIMIT)
    max_parallel_per_destination: int | None = Field(default=None, ge=1, le=MAX_PARALLEL_LIMIT)
    exclusive_groups: ExclusiveGroups = Field(default_factory=dict)
    on_failure: OnFailure = OnFailure.STOP
    max_history_events: int = Field(default=10_000, ge=200, le=50_000)
    server_sizes: ServerSizes | None = None


class RevertOutcome(enum.StrEnum):
    """How the rollback of one completed action went."""

    REVERTED = "reverted"
    NOTHING_TO_REVERT = "nothing_to_revert"
    REVERT_FAILED = "revert_failed"


class ActionStatus(Message):
    """Where one action of a plan is.

    Attributes:
        id: The action's id.
        action_type: Its type.
        state: Watcher's action state.
        reason: Why it ended that way (empty while it runs).
        workflow_id: The ``migrate-<uuid>`` child of a migration.
        started_at: When it started (workflow time).
        finished_at: When it ended.
        revert: How a rollback treated it, when one ran.
        revert_reason: What the rollback did or why it failed.
    """

    id: str
    action_type: ActionType
    state: ActionState = ActionState.PENDING
    reason: str = ""
    workflow_id: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    revert: RevertOutcome | None = None
    revert_reason: str = ""

    @model_serializer(mode="wrap")
    def _without_unset(self, handler: SerializerFunctionWrapHandler) -> Any:
        return _drop_empty(handler(self), ("workflow_id", "revert", "revert_reason"))


class UndoRecord(Message):
    """What a rollback needs to revert one SUCCEEDED action.

    Attributes:
        final_host: Where a migration left its server.
        service: What a service-state change found before changing it.
    """

    final_host: str | None = None
    service: ServiceStateChange | None = None

    @model_serializer(mode="wrap")
    def _without_unset(self, handler: SerializerFunctionWrapHandler) -> Any:
        return _drop_empty(handler(self), ("final_host", "service"))


class PackedActions(Message):
    """Every finished action of a plan, one column per field (a hand-over small enough for 10,000 actions).

    Entry ``i`` of each list describes the action at plan position ``positions[i]``.

    Attributes:
        positions: Plan position of each action.
        states: One letter per action: ``S`` SUCCEEDED, ``F`` FAILED, ``K`` SKIPPED, ``C`` CANCELLED.
        reasons: Each distinct reason once.
        reason_of: Per action, the index of its reason in ``reasons``.
        started_ms: Per action, milliseconds from the plan's start to its start (-1: never started).
        finished_ms: Likewise to its end.
        reverts: Plan position → ``[revert outcome, revert reason]`` of the actions a rollback touched.
        completed: Plan positions of the SUCCEEDED actions in order of completion.
    """

    positions: list[int] = Field(default_factory=list)
    states: str = ""
    reasons: list[str] = Field(default_factory=list)
    reason_of: list[int] = Field(default_factory=list)
    started_ms: list[int] = Field(default_factory=list)
    finished_ms: list[int] = Field(default_factory=list)
    reverts: dict[str, list[str]] = Field(default_factory=dict)
    completed: list[int] = Field(default_factory=list)


class PlanProgress(Message):
    """What a run of the plan hands its continued-as-new successor.

    Attributes:
        actions: Status of every action that has left PENDING (runs before
            ``packed``; now empty).
        completed: Ids of SUCCEEDED actions in order of completion (what a
            rollback would revert, newest last; runs before ``packed``).
        started_at: When the first run started.
        runs: How many runs came before.
        max_parallel: The current limit (it may have been updated).
        failed: Whether an action failed (``stop``/``rollback`` honour it).
        undo: Per SUCCEEDED action, what a rollback needs.
        limits: Every current limit (absent in runs before ``set_limits``).
        packed: The finished actions and the order of completion, packed
            (absent in runs before it: they handed over ``actions`` and ``completed``).
        estimates: What the finished migrations taught the duration
            estimates (absent in runs before them).
    """

    actions: list[ActionStatus] = Field(default_factory=list)
    completed: list[str] = Field(default_factory=list)
    started_at: datetime
    runs: int = 0
    max_parallel: int
    failed: bool = False
    undo: dict[str, UndoRecord] = Field(default_factory=dict)
    limits: WindowLimits | None = None
    packed: PackedActions | None = None
    estimates: DurationEstimates | None = None


class PlanStatus(Message):
    """Answer of the ``status`` query, and the workflow's result.

    Attributes:
        state: The plan's state.
        counts: Actions per state (every state present, zeros included),
            plus ``reverted`` when a rollback ran.
        actions: Every action's status, in plan order.
        running: Ids of the actions running now.
        max_parallel: Current global limit.
        max_parallel_per_host: Current per-host limit.
        max_parallel_per_source: Current per-source limit (None: none).
        max_parallel_per_destination: Current per-destination limit (None: none).
        exclusive_groups: How many exclusive groups the plan has.
        on_failure: The failure policy.
        runs: Continue-as-new runs before this one.
        started_at: When the plan started.
        finished_at: When it ended, if it did.
        reason: One line on how it ended.
        lower_bound_seconds: The whole plan's lower bound at the current
            duration estimates (over the source hosts, the largest sum of a
            host's migration times at its per-source limit); None without
            estimates.
        eta_seconds: Expected seconds until the plan ends, from the
            migrations' sizes and what its finished migrations took (None
            before it starts or in plans recorded before the estimates; 0
            once it ended).
    """

    state: PlanState
    counts: dict[str, int]
    actions: list[ActionStatus]
    running: list[str] = Field(default_factory=list)
    max_parallel: int
    max_parallel_per_host: int
    max_parallel_per_source: int | None = None
    max_parallel_per_destination: int | None = None
    exclusive_groups: int = 0
    on_failure: OnFailure
    runs: int = 0
    started_at: datetime | None = None
    finished_at: datetime | None = None
    reason: str = ""
    eta_seconds: float | None = None
    lower_bound_seconds: float | None = None


class ServiceStateRequest(Message):
    """Ask the ``change_nova_service_state`` activity for a state."""

    host: str
    state: ServiceState
    disabled_reason: str | None = None


class ServiceStateChange(Message):
    """What ``change_nova_service_state`` found and did.

    Attributes:
        host: The compute host.
        previous_state: The state before (what a revert restores).
        previous_disabled_reason: The reason before.
        changed: False when it was already in the requested state
            (the action is then SKIPPED).
    """

    host: str
    previous_state: ServiceState
    previous_disabled_reason: str | None = None
    changed: bool


class NopRequest(Message):
    """Input of the ``nop`` activity: the action id and its message."""

    action_id: str
    message: str = ""


class ServerActionRequest(Message):
    """Run (or revert) Watcher's stop, shelve, delete or resize on one server.

    Attributes:
        action_id: The plan action's id.
        action_type: ``stop``, ``shelve``, ``delete`` or ``resize``.
        resource_id: The server.
        flavor: ``resize`` only: the new flavor (name or id).
        poll_interval_seconds: How often Nova is polled while waiting.
        timeout_seconds: How long the action may wait for Nova.
    """

    action_id: str
    action_type: ActionType
    resource_id: str
    flavor: str | None = None
    poll_interval_seconds: float = DEFAULT_POLL_INTERVAL_SECONDS
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS


class WatcherActionRequest(Message):
    """Run (or revert) one Watcher action with Watcher's own class.

    Attributes:
        action_id: The plan action's id (Watcher's action uuid).
        action_type: The ``watcher_actions`` entry point name.
        input_parameters: The action's parameters (checked by its schema).
    """

    action_id: str
    action_type: str
    input_parameters: dict[str, JsonValue] = Field(default_factory=dict)


class WatcherActionResult(Message):
    """How a Watcher action ran: Watcher's pre_condition / execute / post_condition.

    Attributes:
        state: SUCCEEDED, SKIPPED (``ActionSkipped`` in pre_condition) or FAILED.
        phase: Where it ended (``pre_condition``, ``execute``, ``post_condition``).
        reason: Why (the exception's text, bounded).
    """

    state: ActionState
    phase: str = ""
    reason: str = ""


def count_states(statuses: Iterable[ActionStatus]) -> dict[str, int]:
    """Actions per state, every state present; ``reverted`` when any was."""
    counts = {state.value: 0 for state in ActionState}
    reverted = 0
    for status in statuses:
        counts[status.state.value] += 1
        reverted += status.revert is RevertOutcome.REVERTED
    if reverted:
        counts["reverted"] = reverted
    return counts


def _problem(action: str, field: str, rule: str) -> dict[str, str]:
    return {"action": action, "field": field, "rule": rule}


def _envelope_problems(err: ValidationError, raw: Any) -> list[dict[str, str]]:
    """Name the action (by id when it has one) of each pydantic error."""
    actions = raw.get("actions") if isinstance(raw, Mapping) else None
    problems = []
    for item in describe_validation_error(err):
        parts = item["field"].split(".")
        if len(parts) >= 2 and parts[0] == "actions" and parts[1].isdigit():
            index = int(parts[1])
            action_id = None
            if isinstance(actions, list) and index < len(actions) and isinstance(actions[index], Mapping):
                action_id = actions[index].get("id")
            name = str(action_id) if isinstance(action_id, str) and action_id else f"actions[{index}]"
            field = ".".join(parts[2:]) or "(action)"
            rule = item["rule"]
            if rule.startswith("unknown key"):
                rule = "unknown key (not a field of a Watcher action)"
            problems.append(_problem(name, field, rule))
        else:
            rule = item["rule"]
            if rule.startswith("unknown key"):
                rule = "unknown key (not a field of a maintenance plan)"
            problems.append(_problem("(plan)", item["field"], rule))
    return problems


def _parameter_problems(action: PlanAction) -> tuple[ActionParams | None, list[dict[str, str]]]:
    """The action's typed parameters, or None and what is wrong with them."""
    try:
        return action.params(), []
    except ValidationError as err:
        problems = []
        for item in describe_validation_error(err):
            rule = item["rule"]
            if rule.startswith("unknown key"):
                rule = f"unknown key (not a parameter of {action.action_type.value})"
            field = "input_parameters" if item["field"] == "(input)" else f"input_parameters.{item['field']}"
            problems.append(_problem(action.id, field, rule))
        return None, problems


def _cycle_members(actions: list[PlanAction]) -> list[str]:
    """Ids left over by Kahn's algorithm: those on or behind a cycle.

    O(actions + parents), and only actions with parents cost more than a
    lookup (a plan of 10,000 is checked inside one workflow task).
    """
    parents_of = {a.id: a.parents for a in actions}  # the last of duplicate ids wins (named elsewhere)
    waiting: dict[str, int] = {}
    children: dict[str, list[str]] = {}
    for child, parents in parents_of.items():
        if not parents:
            continue
        live = {p for p in parents if p in parents_of}
        if live:
            waiting[child] = len(live)
            for parent in live:
                children.setdefault(parent, []).append(child)
    ready = [a for a in parents_of if a not in waiting]
    while ready:
        for child in children.get(ready.pop(), ()):
            waiting[child] -= 1
            if not waiting[child]:
                ready.append(child)
    return [a.id for a in actions if waiting.get(a.id)]


def plan_problems(
    actions: list[PlanAction],
    known_ids: set[str] | None = None,
    *,
    typed: dict[str, ActionParams] | None = None,
) -> list[dict[str, str]]:
    """Every semantic problem of well-shaped actions (empty when they are valid).

    Args:
        actions: The actions that passed the shape check.
        known_ids: Ids of every action of the plan, including badly shaped
            ones, so their children are not also blamed for an unknown parent.
        typed: Filled with each action's typed parameters (action id → them),
            so a caller does not validate them again.
    """
    problems: list[dict[str, str]] = []
    seen: set[str] = set()
    for action in actions:
        if action.id in seen:
            problems.append(_problem(action.id, "id", "duplicate action id"))
        seen.add(action.id)
    known = seen | (known_ids or set())
    servers: dict[str, str] = {}
    for action in actions:
        params, bad_params = _parameter_problems(action)
        problems += bad_params
        if typed is not None and params is not None:
            typed[action.id] = params
        migration = cast(MigrateServerInput, params) if action.action_type is ActionType.MIGRATE else None
        for parent in action.parents:
            if parent == action.id:
                problems.append(_problem(action.id, "parents", "an action cannot be its own parent"))
            elif parent not in known:
                problems.append(_problem(action.id, "parents", f"unknown parent action {parent!r}"))
        if migration is not None:
            other = servers.setdefault(migration.resource_id, action.id)
            if other != action.id:
                problems.append(
                    _problem(
                        action.id,
                        "input_parameters.resource_id",
                        f"server already migrated by action {other!r} (one migration per server per plan)",
                    )
                )
    for member in _cycle_members(actions):
        if not any(p["action"] == member and "own parent" in p["rule"] for p in problems):
            problems.append(_problem(member, "parents", "part of (or depends on) a cycle of parents"))
    return problems


def _well_shaped_actions(raw: Any) -> tuple[list[PlanAction], set[str]]:
    """The actions of a raw plan that pass the shape check, and every id."""
    items = raw.get("actions") if isinstance(raw, Mapping) else None
    if not isinstance(items, list):
        return [], set()
    actions, ids = [], set()
    for item in items:
        if isinstance(item, Mapping) and isinstance(item.get("id"), str):
            ids.add(item["id"])
        try:
            actions.append(PlanAction.model_validate(item))
        except ValidationError:
            continue  # already named by the envelope check
    return actions, ids


def validate_plan(
    request: MaintenancePlanInput | JsonValue, *, typed: dict[str, ActionParams] | None = None
) -> MaintenancePlanInput:
    """Validate a whole plan; raise ``InvalidInput`` naming every problem.

    A badly shaped action does not hide the problems of the others: the
    well-shaped ones are still checked (parameters, parents, cycles).
    ``typed``, when given, is filled with every action's typed parameters
    (action id → :meth:`PlanAction.params`), checked on the way.

    Raises:
        InvalidInput: non-retryable; its first detail is the list of
            ``{action, field, rule}`` problems.
    """
    if isinstance(request, MaintenancePlanInput):
        plan = request
    elif isinstance(raw := request.get("actions") if isinstance(request, Mapping) else None, list) and (
        len(raw) > MAX_PLAN_ACTIONS
    ):
        # Refuse at once: checking every action of a huge plan would hold a workflow task.
        _raise([_problem("(plan)", "actions", f"at most {MAX_PLAN_ACTIONS} actions (got {len(raw)})")])
    else:
        try:
            plan = MaintenancePlanInput.model_validate(request)
        except ValidationError as err:
            actions, ids = _well_shaped_actions(request)
            _raise(_envelope_problems(err, request) + plan_problems(actions, ids))
    problems = plan_problems(plan.actions, typed=typed)
    problems += exclusive_group_problems(plan.exclusive_groups, {a.id for a in plan.actions})
    if not plan.actions:
        problems.insert(0, _problem("(plan)", "actions", "must hold at least one action"))
    if problems:
        _raise(problems)
    return plan


def _raise(problems: list[dict[str, str]]) -> NoReturn:
    count = len(problems)
    problems = bounded_problems(problems)
    text = "; ".join(f"{p['action']}: {p['field']}: {p['rule']}" for p in problems)
    raise InvalidInput(f"invalid MaintenancePlan input ({count} problems): {text}", problems)


UndoRecord.model_rebuild()
PlanProgress.model_rebuild()

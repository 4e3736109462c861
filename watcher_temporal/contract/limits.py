"""The limits of a plan's sliding window: how many actions run at once, per host, per group.

A plan (``MaintenancePlan``, ``DrainHost``) starts a ready action only while

* fewer than ``max_parallel`` actions run (all types together);
* fewer than ``max_parallel_per_host`` migrations touch each of its named
  hosts (source or destination, either way);
* fewer than ``max_parallel_per_source`` migrations leave its source host
  (Nova's ``max_concurrent_live_migrations`` is 1 per compute by default);
* fewer than ``max_parallel_per_destination`` migrations go to its named
  destination (a migration whose destination the scheduler picks counts only
  on its source);
* no other action of any of its exclusive groups runs (for example the
  members of one anti-affinity server group, Nova bug 1821755).

:class:`WindowLimits` is what a running plan holds (and reports in its
``status``); :class:`WindowLimitsChange` is the ``set_limits`` update's input.
Pure models and functions: workflow code imports them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

from pydantic import Field, StringConstraints, ValidationError

from watcher_temporal.contract.message import Message, describe_validation_error

#: Upper bound of every limit (each slot may be a child workflow).
MAX_PARALLEL_LIMIT = 1000
#: Most exclusive groups one plan may hold.
MAX_EXCLUSIVE_GROUPS = 1000
#: Most actions in one exclusive group (Nova's server group quota is 10 members by default).
MAX_GROUP_MEMBERS = 1000
#: Most memberships over all groups of a plan.
MAX_GROUP_MEMBERSHIPS = 10_000
#: Default outbound migrations per source host: Nova's ``max_concurrent_live_migrations``.
DEFAULT_MAX_PARALLEL_PER_SOURCE = 1

GroupName = Annotated[str, StringConstraints(min_length=1, max_length=255)]
ActionId = Annotated[str, StringConstraints(min_length=1, max_length=255)]
Limit = Annotated[int, Field(ge=1, le=MAX_PARALLEL_LIMIT)]
#: A limit in a change: a JSON integer (``true`` or ``"3"`` are refused).
ChangedLimit = Annotated[int, Field(ge=1, le=MAX_PARALLEL_LIMIT, strict=True)]
#: In a change, 0 lifts a per-source or per-destination limit (Nova's convention).
LiftableLimit = Annotated[int, Field(ge=0, le=MAX_PARALLEL_LIMIT, strict=True)]
ExclusiveGroups = Annotated[
    dict[GroupName, Annotated[list[ActionId], Field(max_length=MAX_GROUP_MEMBERS)]],
    Field(max_length=MAX_EXCLUSIVE_GROUPS),
]


class WindowLimits(Message):
    """The limits a running plan applies now.

    Attributes:
        max_parallel: Actions running at once, all types together.
        max_parallel_per_host: Migrations touching one host (source or
            destination) at once.
        max_parallel_per_source: Migrations leaving one source host at once;
            None: no such limit.
        max_parallel_per_destination: Migrations entering one named
            destination host at once; None: no such limit.
    """

    max_parallel: Limit
    max_parallel_per_host: Limit
    max_parallel_per_source: Limit | None = None
    max_parallel_per_destination: Limit | None = None

    def changed(self, change: WindowLimitsChange) -> WindowLimits:
        """These limits with ``change`` applied (absent keys unchanged, 0 lifts a limit)."""
        updates: dict[str, int | None] = {}
        for name in ("max_parallel", "max_parallel_per_host"):
            value = getattr(change, name)
            if value is not None:
                updates[name] = value
        for name in ("max_parallel_per_source", "max_parallel_per_destination"):
            value = getattr(change, name)
            if value is not None:
                updates[name] = value or None
        return self.model_copy(update=updates)


class WindowLimitsChange(Message):
    """Input of the ``set_limits`` update: the limits to change, the others stay.

    Attributes:
        max_parallel: New global limit (1 to 1000).
        max_parallel_per_host: New per-host limit (1 to 1000).
        max_parallel_per_source: New per-source limit (1 to 1000; 0 lifts it).
        max_parallel_per_destination: New per-destination limit (1 to 1000; 0 lifts it).
    """

    max_parallel: ChangedLimit | None = None
    max_parallel_per_host: ChangedLimit | None = None
    max_parallel_per_source: LiftableLimit | None = None
    max_parallel_per_destination: LiftableLimit | None = None


def parse_limits_change(raw: object) -> WindowLimitsChange:
    """Validate a ``set_limits`` request; raise ``ValueError`` naming every bad key.

    Raises:
        ValueError: not an object, an unknown key, a value out of range, or
            no limit named at all.
    """
    if isinstance(raw, WindowLimitsChange):
        change = raw
    else:
        if not isinstance(raw, Mapping):
            raise ValueError(
                f'set_limits takes an object such as {{"max_parallel_per_source": 2}} (got {type(raw).__name__})'
            )
        try:
            change = WindowLimitsChange.model_validate(raw)
        except ValidationError as err:
            problems = describe_validation_error(err)
            text = "; ".join(
                f"{p['field']}: " + ("unknown key (not a limit)" if p["rule"].startswith("unknown key") else p["rule"])
                for p in problems[:10]
            )
            raise ValueError(f"invalid set_limits: {text}") from None
    if all(getattr(change, name) is None for name in WindowLimitsChange.model_fields):
        raise ValueError(
            "set_limits names no limit: give at least one of " + ", ".join(WindowLimitsChange.model_fields)
        )
    return change


def exclusive_group_problems(groups: Mapping[str, list[str]], action_ids: set[str]) -> list[dict[str, str]]:
    """Problems of a plan's ``exclusive_groups`` as ``{action, field, rule}`` items.

    Args:
        groups: Group name → ids of the actions of which at most one runs at a time.
        action_ids: Ids of every action of the plan.
    """
    problems: list[dict[str, str]] = []
    total = sum(len(members) for members in groups.values())
    if total > MAX_GROUP_MEMBERSHIPS:
        problems.append(
            {
                "action": "(plan)",
                "field": "exclusive_groups",
                "rule": f"at most {MAX_GROUP_MEMBERSHIPS} memberships over all groups (got {total})",
            }
        )
        return problems
    for name, members in groups.items():
        field = f"exclusive_groups.{name}"
        seen: set[str] = set()
        for member in members:
            if member in seen:
                problems.append({"action": member, "field": field, "rule": "listed twice in the same group"})
            elif member not in action_ids:
                problems.append({"action": member, "field": field, "rule": "not an action of this plan"})
            seen.add(member)
    return problems

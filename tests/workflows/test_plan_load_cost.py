"""A plan of 10,000 actions is checked and loaded inside workflow tasks: what that costs, in counts.

The workflow sandbox makes every Python-level call dearer (``isinstance``
alone costs microseconds there), so the first workflow tasks of a plan
(validate, then load the window) must not redo work per action: each
action's parameters are validated once per run, and the cycle check is
linear. These tests count, they do not time (timings: ``benchmarks/plan_scale.py``).
"""

from __future__ import annotations

import random
import uuid

import pytest

from benchmarks.plan_scale import scale_plan
from watcher_temporal.contract import (
    ActionParams,
    MaintenancePlanInput,
    PlanAction,
    ServerSize,
    validate_plan,
)
from watcher_temporal.contract.plan import _cycle_members
from watcher_temporal.errors import InvalidInput
from watcher_temporal.workflows.plan_ordered_window import DurationPlanWindow


def _kahn_by_sets(actions: list[PlanAction]) -> set[str]:
    """The cycle check as it was (sets of waiting parents): the reference for the linear one."""
    ids = {a.id for a in actions}
    waiting = {a.id: {p for p in a.parents if p in ids} for a in actions}
    children: dict[str, list[str]] = {a.id: [] for a in actions}
    for child, parents in waiting.items():
        for parent in parents:
            children[parent].append(child)
    ready = [a for a, parents in waiting.items() if not parents]
    while ready:
        done = ready.pop()
        for child in children[done]:
            waiting[child].discard(done)
            if not waiting[child]:
                ready.append(child)
    return {a.id for a in actions if waiting[a.id]}


def _nop(action_id: str, *parents: str) -> PlanAction:
    return PlanAction(id=action_id, action_type="nop", parents=list(parents))


@pytest.mark.parametrize("seed", range(40))
def test_the_linear_cycle_check_finds_what_the_set_based_one_found(seed: int) -> None:
    rng = random.Random(seed)
    count = rng.randint(1, 30)
    ids = [f"a{i}" for i in range(count)]
    actions = [
        # any parents, forward or backward (cycles), repeated, unknown, or the action itself
        _nop(i, *rng.choices([*ids, "ghost"], k=rng.choice([0, 0, 1, 2, 3])))
        for i in ids
    ]
    assert set(_cycle_members(actions)) == _kahn_by_sets(actions)


def test_the_cycle_check_names_the_cycle_and_what_waits_behind_it_only() -> None:
    actions = [
        _nop("free"),
        _nop("a", "c"),
        _nop("b", "a", "a"),  # a parent named twice counts once
        _nop("c", "b"),
        _nop("behind", "c", "free"),
        _nop("after-free", "free"),
    ]
    assert _cycle_members(actions) == ["a", "b", "c", "behind"]
    with pytest.raises(InvalidInput) as err:
        validate_plan({"actions": [a.model_dump() for a in actions]})
    named = {(p["action"], p["field"]) for p in err.value.details[0]}
    assert named == {("a", "parents"), ("b", "parents"), ("c", "parents"), ("behind", "parents")}


def test_a_chain_of_10000_actions_is_no_cycle() -> None:
    actions = [_nop("n0")] + [_nop(f"n{i}", f"n{i - 1}") for i in range(1, 10_000)]
    assert _cycle_members(actions) == []


def test_each_parameter_set_is_validated_once_per_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """Validation hands the typed parameters to the window: loading does not validate them again."""
    raw = scale_plan(10_000, max_parallel=1000, seconds=5.0)
    calls = {"n": 0}
    validate = PlanAction.params

    def counted(self: PlanAction) -> ActionParams:
        calls["n"] += 1
        return validate(self)

    monkeypatch.setattr(PlanAction, "params", counted)
    typed: dict[str, ActionParams] = {}
    plan = validate_plan(raw, typed=typed)
    assert calls["n"] == 10_000 and len(typed) == 10_000
    sizes = {
        str(a.input_parameters["resource_id"]): ServerSize(memory_mib=2048, disk_gib=20)
        for a in plan.actions
        if a.action_type.value == "migrate"
    }
    window = DurationPlanWindow(typed=typed)
    window.load(plan.model_copy(update={"server_sizes": sizes}), None, host_limits=True)
    assert calls["n"] == 10_000  # nothing validated twice
    assert window.pending_count() == 10_000

    # A continued run reads the plan back (no validate_plan): the window validates each migration once.
    calls["n"] = 0
    again = MaintenancePlanInput.model_validate(plan.model_dump(mode="json"))
    DurationPlanWindow().load(again.model_copy(update={"server_sizes": sizes}), None, host_limits=True)
    assert calls["n"] == 5_000  # the migrations (a nop has nothing to read)


LIVE = {"migration_type": "live", "source_node": "h1"}


def test_a_server_uuid_keeps_its_canonical_spelling_and_others_are_canonicalized() -> None:
    server = uuid.uuid4()
    plan = validate_plan(
        {
            "actions": [
                {
                    "id": "m",
                    "action_type": "migrate",
                    "input_parameters": {"resource_id": str(server).upper(), **LIVE},
                },
                {
                    "id": "k",
                    "action_type": "migrate",
                    "input_parameters": {"resource_id": str(uuid.UUID(int=7)), **LIVE},
                },
            ]
        }
    )
    assert plan.actions[0].params().resource_id == str(server)  # type: ignore[union-attr]
    assert plan.actions[1].params().resource_id == str(uuid.UUID(int=7))  # type: ignore[union-attr]


@pytest.mark.parametrize("value", [True, False, "5", float("nan"), float("inf"), None])
def test_the_seconds_fast_path_still_refuses_what_is_no_number_of_seconds(value: object) -> None:
    with pytest.raises(InvalidInput):
        validate_plan({"actions": [{"id": "s", "action_type": "sleep", "input_parameters": {"duration": value}}]})


@pytest.mark.parametrize("value", [0, 5, 2.5])
def test_the_seconds_fast_path_takes_ints_and_floats(value: float) -> None:
    plan = validate_plan({"actions": [{"id": "s", "action_type": "sleep", "input_parameters": {"duration": value}}]})
    assert plan.actions[0].params().duration == value  # type: ignore[union-attr]

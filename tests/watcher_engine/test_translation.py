"""Watcher actions → MaintenancePlan input, options over the environment, failure phases (no servers)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from watcher_temporal.contract import ActionType, GenericActionParams, MigrateServerInput, OnFailure
from watcher_temporal.errors import InvalidInput
from watcher_temporal.watcher_engine.barriers import BarrierMode
from watcher_temporal.watcher_engine.options import resolve
from watcher_temporal.watcher_engine.translation import SKIPPED_BY_HAND, PlanLimits, plan_input, skipped_by_hand

SERVER = "0b5b6c5a-9b8e-4f0a-8f4e-6f1d2b3c4d5e"


@dataclass
class Action:
    uuid: str
    action_type: str
    input_parameters: dict[str, Any]
    parents: list[str] = field(default_factory=list)
    state: str = "PENDING"


def test_migrate_gets_watchers_nova_interval_and_deadline() -> None:
    plan = plan_input(
        [Action("m", "migrate", {"resource_id": SERVER, "migration_type": "live", "source_node": "h1"})],
        PlanLimits(migration_interval=2.0, migration_max_retries=30, on_failure=OnFailure.WATCHER),
    )
    params = plan.actions[0].params()
    assert isinstance(params, MigrateServerInput)
    assert (params.poll_interval_seconds, params.timeout_seconds) == (2.0, 60.0)
    assert plan.on_failure is OnFailure.WATCHER


def test_unknown_types_and_watcher_only_states_take_the_generic_path() -> None:
    actions = [
        Action("v", "volume_migrate", {"resource_id": "vol", "migration_type": "migrate"}),
        Action("c", "change_nova_service_state", {"resource_id": "h1", "resource_name": "h1", "state": "down"}),
        Action("s", "stop", {"resource_id": SERVER}, parents=["v"]),
    ]
    plan = plan_input(actions, PlanLimits())
    by_id = {a.id: a for a in plan.actions}
    assert [by_id[i].action_type for i in "vcs"] == [ActionType.WATCHER_ACTION, ActionType.WATCHER_ACTION, "stop"]
    generic = by_id["v"].params()
    assert isinstance(generic, GenericActionParams)
    assert (generic.action_type, generic.parameters) == ("volume_migrate", actions[0].input_parameters)
    assert by_id["s"].parents == ["v"]


def test_actions_skipped_by_hand_become_nops_and_are_not_written() -> None:
    actions = [Action("a", "migrate", {"resource_id": SERVER}, state="SKIPPED"), Action("b", "nop", {})]
    plan = plan_input(actions, PlanLimits())
    assert (plan.actions[0].action_type, plan.actions[0].input_parameters) == ("nop", {"message": SKIPPED_BY_HAND})
    assert skipped_by_hand(actions) == {"a"}


def test_a_malformed_migrate_is_refused_naming_the_action_and_field() -> None:
    with pytest.raises(InvalidInput) as err:
        plan_input(
            [Action("m", "migrate", {"resource_id": "nope", "migration_type": "live", "source_node": "h"})],
            PlanLimits(),
        )
    assert err.value.details[0] == [
        {"action": "m", "field": "input_parameters.resource_id", "rule": err.value.details[0][0]["rule"]}
    ]
    assert "UUID" in err.value.details[0][0]["rule"]


def test_options_come_from_watchers_config_only_whatever_the_shell_says(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    for variable, value in {
        "TEMPORAL_ADDRESS": "env:7233",
        "TEMPORAL_NAMESPACE": "env-ns",
        "TEMPORAL_TASK_QUEUE": "env-q",
        "TEMPORAL_API_KEY": "env-key",
        "WATCHER_TEMPORAL_CODEC_KEY": "00" * 32,
    }.items():
        monkeypatch.setenv(variable, value)
    defaults = resolve({})
    assert (defaults.temporal.address, defaults.temporal.namespace) == ("localhost:7233", "default")
    assert defaults.temporal.task_queue == "watcher-actions"
    assert "api_key" not in defaults.temporal.connect and "tls" not in defaults.temporal.connect
    assert not defaults.codec.keys
    settings = resolve({"address": "opt:7233", "failure_policy": "watcher", "max_parallel": 8})
    assert (settings.temporal.address, settings.failure_policy, settings.max_parallel) == (
        "opt:7233",
        OnFailure.WATCHER,
        8,
    )
    key = tmp_path / "api-key"
    key.write_text("secret-value\n")
    with_key = resolve({"api_key_file": str(key)})
    assert (with_key.temporal.connect["api_key"], with_key.temporal.connect["tls"]) == ("secret-value", True)
    assert "secret-value" not in repr(with_key)


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"api_key_file": "/nonexistent/api-key"}, "api_key_file: cannot read /nonexistent/api-key"),
        ({"tls_server_ca_cert_file": "/nonexistent/ca.pem"}, "TLS file cannot be read"),
        ({"codec_key_file": "/nonexistent/codec"}, "codec_key_file"),
    ],
)
def test_an_unreadable_file_option_is_one_line_naming_it(options: dict[str, str], named: str) -> None:
    with pytest.raises(ValueError, match=r"watcher_workflow_engines\.temporal") as err:
        resolve(options)
    assert named in str(err.value) and "\n" not in str(err.value)


def test_a_codec_key_file_option_gives_the_engine_its_key(tmp_path: Any) -> None:
    key = tmp_path / "key"
    key.write_text("11" * 32)
    assert len(resolve({"codec_key_file": str(key)}).codec.keys) == 1


def _servers(count: int) -> list[str]:
    return [f"0b5b6c5a-9b8e-4f0a-8f4e-6f1d2b3c4d{i:02d}" for i in range(count)]


def weight_planner_plan() -> list[Action]:
    """What Watcher's weight planner makes of a host maintenance: disable, chunks of 2 migrations, a nop."""
    s = _servers(5)
    move = {"migration_type": "live", "source_node": "h1"}
    return [
        Action("d", "change_nova_service_state", {"resource_name": "h1", "state": "disabled"}),
        Action("m1", "migrate", move | {"resource_id": s[0]}, parents=["d"]),
        Action("m2", "migrate", move | {"resource_id": s[1]}, parents=["d"]),
        Action("m3", "migrate", move | {"resource_id": s[2]}, parents=["m1", "m2"]),
        Action("m4", "migrate", move | {"resource_id": s[3]}, parents=["m1", "m2"]),
        Action("m5", "migrate", move | {"resource_id": s[4]}, parents=["m3", "m4"]),
        Action("n", "nop", {"message": "done"}, parents=["m5"]),
    ]


def test_watchers_parents_are_kept_by_default() -> None:
    plan = plan_input(weight_planner_plan(), PlanLimits(max_parallel=4))
    assert {a.id: a.parents for a in plan.actions} == {
        "d": [],
        "m1": ["d"],
        "m2": ["d"],
        "m3": ["m1", "m2"],
        "m4": ["m1", "m2"],
        "m5": ["m3", "m4"],
        "n": ["m5"],
    }
    # Nova copies one per source (the default 1); one more waits queued in nova-compute (queued_per_source 1).
    assert (plan.max_parallel, plan.max_parallel_per_source) == (4, 2)


def test_barriers_between_migrations_become_the_chunk_width() -> None:
    plan = plan_input(weight_planner_plan(), PlanLimits(max_parallel=4, barriers=BarrierMode.LIMITS))
    parents = {a.id: a.parents for a in plan.actions}
    # Every migration still waits for the disable (before: through the earlier chunks) ...
    migrations = ("m1", "m2", "m3", "m4", "m5")
    assert [parents[m] for m in migrations] == [["d"]] * 5
    # ... and the last action still waits for every migration (before: through the chain of chunks).
    assert parents["d"] == [] and sorted(parents["n"]) == ["m1", "m2", "m3", "m4", "m5"]
    assert plan.max_parallel == 2  # the widest chunk: Watcher's parallelization


def test_turning_barriers_into_limits_keeps_a_cycle_for_validation_to_name() -> None:
    s = _servers(2)
    move = {"migration_type": "live", "source_node": "h1"}
    actions = [
        Action("a", "migrate", move | {"resource_id": s[0]}, parents=["b"]),
        Action("b", "migrate", move | {"resource_id": s[1]}, parents=["n"]),
        Action("n", "nop", {}, parents=["a"]),
    ]
    with pytest.raises(InvalidInput) as err:
        plan_input(actions, PlanLimits(barriers=BarrierMode.LIMITS))
    assert {(p["action"], p["field"]) for p in err.value.details[0]} == {
        ("a", "parents"),
        ("b", "parents"),
        ("n", "parents"),
    }


def test_limit_options_resolve_with_zero_meaning_no_limit() -> None:
    defaults = resolve({})
    assert (defaults.max_parallel_per_source, defaults.max_parallel_per_destination) == (1, None)
    assert defaults.barriers is BarrierMode.KEEP
    settings = resolve({"max_parallel_per_source": 0, "max_parallel_per_destination": 3, "barriers": "limits"})
    assert (settings.max_parallel_per_source, settings.max_parallel_per_destination) == (None, 3)
    assert settings.barriers is BarrierMode.LIMITS


def test_one_more_migration_per_source_waits_queued_in_nova_by_default() -> None:
    """The plan's per-source slots: Nova's copies plus the migrations sent ahead to wait ``queued``."""
    s = _servers(2)
    actions = [
        Action(m, "migrate", {"resource_id": r, "migration_type": "live", "source_node": "h1"})
        for m, r in zip("ab", s, strict=True)
    ]
    assert plan_input(actions, PlanLimits()).max_parallel_per_source == 2
    # The engine's defaults from watcher.conf give the same plan.
    defaults = resolve({})
    assert (defaults.max_parallel_per_source, defaults.queued_per_source) == (1, 1)
    from_options = PlanLimits(
        max_parallel_per_source=defaults.max_parallel_per_source, queued_per_source=defaults.queued_per_source
    )
    assert plan_input(actions, from_options).max_parallel_per_source == 2
    # queued_per_source = 0: the next migration of a source is sent only once the previous one ended.
    assert resolve({"queued_per_source": 0}).queued_per_source == 0
    assert plan_input(actions, PlanLimits(queued_per_source=0)).max_parallel_per_source == 1
    assert plan_input(actions, PlanLimits(max_parallel_per_source=3, queued_per_source=2)).max_parallel_per_source == 5
    # No limit stays no limit; the sum stays within the plan's range.
    assert plan_input(actions, PlanLimits(max_parallel_per_source=None)).max_parallel_per_source is None
    assert plan_input(actions, PlanLimits(max_parallel_per_source=1000)).max_parallel_per_source == 1000

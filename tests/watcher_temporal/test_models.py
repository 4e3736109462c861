"""The workflow input accepts Watcher's keys unchanged and is strict about them."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from watcher_temporal.contract import (
    MAX_PLAN_ACTIONS,
    MigrateServerInput,
    MigrationType,
    OnTimeout,
    describe_validation_error,
    migration_workflow_id,
    validate_input,
    validate_plan,
)
from watcher_temporal.errors import (
    ERROR_TYPES,
    MAX_MESSAGE_CHARS,
    MAX_PROBLEMS,
    NON_RETRYABLE_ERROR_TYPES,
    InvalidInput,
)

UUID = "0B5B6C5A-9B8E-4F0A-8F4E-6F1D2B3C4D5E"


def test_watcher_action_parameters_are_accepted_unchanged() -> None:
    # As Watcher stores them for a migrate action (resource_name included).
    watcher = {
        "resource_id": UUID,
        "migration_type": "live",
        "source_node": "compute-1",
        "destination_node": "compute-2",
        "resource_name": "web-1",
    }
    params = MigrateServerInput.model_validate_json(json.dumps(watcher))
    assert params.resource_id == UUID.lower()  # canonical form: one workflow id per server
    assert params.migration_type is MigrationType.LIVE
    assert (params.poll_interval_seconds, params.timeout_seconds) == (5.0, 900.0)  # Watcher's defaults


def test_absent_or_null_destination_lets_the_scheduler_choose() -> None:
    base = {"resource_id": UUID, "migration_type": "cold", "source_node": "compute-1"}
    assert MigrateServerInput.model_validate(base).destination_node is None
    assert MigrateServerInput.model_validate(base | {"destination_node": None}).destination_node is None


@pytest.mark.parametrize(
    ("change", "field", "rule"),
    [
        ({"resource_id": "vm-1"}, "resource_id", "must be a server UUID"),
        ({"migration_type": "LIVE"}, "migration_type", "'live' or 'cold'"),
        ({"source_node": ""}, "source_node", "non-empty"),
        ({"destination_node": ""}, "destination_node", "non-empty"),  # Watcher let this through
        ({"destination_node": " compute-2"}, "destination_node", "letters, digits"),
        ({"destination_node": "host\x1b[31m"}, "destination_node", "letters, digits"),
        ({"source_node": "h" * 10_000}, "source_node", "at most 255"),
        ({"destination_node": "compute-1"}, "(input)", "destination_node must differ from source_node"),
        ({"timeout_seconds": 0}, "timeout_seconds", "greater than or equal to 1"),
        ({"timeout_seconds": True}, "timeout_seconds", "not a bool"),
        ({"timeout_seconds": "900"}, "timeout_seconds", "not a bool or a string"),
        ({"timeout_seconds": float("inf")}, "timeout_seconds", "finite"),
        ({"poll_interval_seconds": 1e-9}, "poll_interval_seconds", "greater than or equal to 0.2"),
        ({"revert_timeout_seconds": False}, "revert_timeout_seconds", "not a bool"),
        ({"flavor": "m1"}, "flavor", "unknown key"),
        ({"completion_timeout_per_gib": 0}, "completion_timeout_per_gib", "greater than or equal to 1"),
        ({"completion_timeout_per_gib": "800"}, "completion_timeout_per_gib", "not a bool or a string"),
        ({"completion_timeout_per_gib": 8 * 24 * 3600}, "completion_timeout_per_gib", "less than or equal to"),
        ({"progress_timeout_seconds": 0.5}, "progress_timeout_seconds", "greater than or equal to 1"),
        ({"progress_timeout_seconds": True}, "progress_timeout_seconds", "not a bool"),
        ({"progress_timeout_seconds": float("nan")}, "progress_timeout_seconds", "finite"),
        ({"on_timeout": "pause"}, "on_timeout", "'abort' or 'force_complete'"),
        ({"on_timeout": None}, "on_timeout", "'abort' or 'force_complete'"),
        ({"block_migration": "true"}, "block_migration", 'must be "auto", true or false'),
        ({"block_migration": 1}, "block_migration", "not a string or a number"),
        ({"block_migration": "AUTO"}, "block_migration", 'must be "auto"'),
        (
            {"migration_type": "cold", "progress_timeout_seconds": 60},
            "(input)",
            "progress_timeout_seconds: only for live migrations",
        ),
        ({"migration_type": "cold", "on_timeout": "force_complete"}, "(input)", "only for live migrations"),
        ({"migration_type": "cold", "block_migration": False}, "(input)", "block_migration: only for live"),
    ],
)
def test_each_rule_names_its_field(change: dict[str, object], field: str, rule: str) -> None:
    raw = {"resource_id": UUID, "migration_type": "live", "source_node": "compute-1"} | change
    with pytest.raises(ValidationError) as err:
        MigrateServerInput.model_validate(raw)
    [problem] = describe_validation_error(err.value)
    assert problem["field"] == field
    assert rule in problem["rule"]


def test_migration_policy_defaults_follow_nova() -> None:
    params = MigrateServerInput.model_validate({"resource_id": UUID, "migration_type": "live", "source_node": "c1"})
    assert params.completion_timeout_per_gib == 800.0  # live_migration_completion_timeout
    assert params.progress_timeout_seconds is None  # off, as in Nova since Stein
    assert params.on_timeout is OnTimeout.ABORT  # live_migration_timeout_action
    assert params.block_migration == "auto"
    assert params.timeout_seconds == 900.0  # still the hard upper bound


@pytest.mark.parametrize("value", ["auto", True, False])
def test_block_migration_takes_auto_or_a_json_boolean(value: object) -> None:
    raw = {"resource_id": UUID, "migration_type": "live", "source_node": "c1", "block_migration": value}
    assert MigrateServerInput.model_validate_json(json.dumps(raw)).block_migration == value


def test_cold_migrations_take_the_live_keys_at_their_defaults() -> None:
    raw = {"resource_id": UUID, "migration_type": "cold", "source_node": "c1", "completion_timeout_per_gib": 10}
    raw |= {"progress_timeout_seconds": None, "on_timeout": "abort", "block_migration": "auto"}
    assert MigrateServerInput.model_validate(raw).completion_timeout_per_gib == 10  # ignored by cold


def test_the_workflow_id_convention() -> None:
    assert migration_workflow_id(UUID.lower()) == f"migrate-{UUID.lower()}"


def test_invalid_input_error_is_bounded_whatever_the_input() -> None:
    """A huge bad input gives an error that Temporal can store (well under 2 MB)."""
    raw = {"resource_id": "x" * 100_000, "migration_type": "y" * 100_000, "source_node": "z" * 100_000}
    raw |= {f"extra{i}": i for i in range(10_000)}
    with pytest.raises(InvalidInput) as err:
        validate_input(MigrateServerInput, raw, what="MigrateServer input")
    problems = err.value.details[0]
    assert len(problems) == MAX_PROBLEMS and problems[-1]["field"] == "(more)"
    assert len(err.value.message) <= MAX_MESSAGE_CHARS
    assert len(json.dumps(err.value.details)) < 50_000


def test_a_plan_over_the_action_limit_is_refused_without_checking_each_action() -> None:
    actions = [{"id": f"n{i}", "action_type": "nop"} for i in range(MAX_PLAN_ACTIONS + 1)]
    with pytest.raises(InvalidInput) as err:
        validate_plan({"actions": actions})
    assert err.value.details[0] == [
        {
            "action": "(plan)",
            "field": "actions",
            "rule": f"at most {MAX_PLAN_ACTIONS} actions (got {MAX_PLAN_ACTIONS + 1})",
        }
    ]


def test_non_retryable_types_are_derived_from_the_taxonomy() -> None:
    assert set(NON_RETRYABLE_ERROR_TYPES) == {
        name for name, cls in ERROR_TYPES.items() if not cls.retryable and name != "WatcherTemporalError"
    }
    assert "NovaUnavailable" not in NON_RETRYABLE_ERROR_TYPES and "NovaAuthFailed" in NON_RETRYABLE_ERROR_TYPES

"""The workflow input accepts Watcher's keys unchanged and is strict about them."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from watcher_temporal.contract import (
    MigrateServerInput,
    MigrationType,
    describe_validation_error,
    migration_workflow_id,
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
        ({"destination_node": " compute-2"}, "destination_node", "white space"),
        ({"destination_node": "compute-1"}, "(input)", "destination_node must differ from source_node"),
        ({"timeout_seconds": 0}, "timeout_seconds", "greater than 0"),
        ({"flavor": "m1"}, "flavor", "unknown key"),
    ],
)
def test_each_rule_names_its_field(change: dict[str, object], field: str, rule: str) -> None:
    raw = {"resource_id": UUID, "migration_type": "live", "source_node": "compute-1"} | change
    with pytest.raises(ValidationError) as err:
        MigrateServerInput.model_validate(raw)
    [problem] = describe_validation_error(err.value)
    assert problem["field"] == field
    assert rule in problem["rule"]


def test_the_workflow_id_convention() -> None:
    assert migration_workflow_id(UUID.lower()) == f"migrate-{UUID.lower()}"

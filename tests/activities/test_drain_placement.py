"""A drain on a cloud whose catalog has no placement: one clear, non-retryable error naming it.

Keystone clouds list their services in the token's catalog; without
placement, openstacksdk hands out a stand-in proxy whose every use raises
``ServiceDisabledException`` (a ``ConfigException``). That used to read as
``NovaAuthFailed`` ("the cloud configuration is unusable ... credentials").
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from openstack.service_description import _ServiceDisabledProxyShim

from watcher_temporal.activities.drain import DrainActivities
from watcher_temporal.activities.nova import ComputeService, NovaGateway
from watcher_temporal.contract import DrainRequest
from watcher_temporal.errors import NON_RETRYABLE_ERROR_TYPES, PreconditionFailed

#: What openstacksdk builds when the catalog lacks the service (openstack/service_description.py).
NO_PLACEMENT = _ServiceDisabledProxyShim(
    "placement",
    "The service is not present in the service catalog: public endpoint for placement service not found",
)


class NoPlacementCloud:
    """One hypervisor on host2; placement is openstacksdk's own disabled-service stand-in."""

    def __init__(self) -> None:
        hypervisor = SimpleNamespace(id="3f1c2b7e-0000-4000-8000-000000000002", service_details={"host": "host2"})
        self.compute = SimpleNamespace(hypervisors=lambda details: [hypervisor])
        self.placement = NO_PLACEMENT

    def close(self) -> None:
        pass


def test_the_missing_placement_endpoint_is_named_and_not_retried() -> None:
    nova = NovaGateway(connect=lambda: NoPlacementCloud())  # type: ignore[arg-type,return-value]
    with pytest.raises(PreconditionFailed) as raised:
        nova.host_capacities(["host2"])
    message = str(raised.value)
    assert "Service 'placement' is disabled" in message and "not present in the service catalog" in message
    assert "service catalog, or set <service>_endpoint_override in clouds.yaml" in message
    assert "credentials" not in message
    assert "PreconditionFailed" in NON_RETRYABLE_ERROR_TYPES


class NoPlacementGateway:
    """What the drain activity reads: two services, no server, and a placement it cannot reach."""

    def compute_services(self) -> list[ComputeService]:
        return [
            ComputeService(host=h, enabled=True, up=True, forced_down=False, disabled_reason=None)
            for h in ("host1", "host2")
        ]

    def drain_servers(self, host: str) -> list[Any]:
        return []

    def host_capacities(self, hosts: Any) -> Any:
        return NovaGateway(connect=lambda: NoPlacementCloud()).host_capacities(hosts)  # type: ignore[arg-type,return-value]


async def test_a_drain_without_placement_fails_naming_it_and_the_way_around() -> None:
    activities = DrainActivities(NoPlacementGateway())  # type: ignore[arg-type]
    with pytest.raises(PreconditionFailed) as raised:
        await activities.build_drain_plan(DrainRequest(host="host1", dry_run=True))
    message = raised.value.message
    assert message.startswith("read placement inventories and usages: the worker's cloud has no endpoint")
    assert "'placement'" in message and "--ignore-capacity" in message

"""change_nova_service_state against real Nova: idempotent across a retry."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest
from temporalio.testing import ActivityEnvironment

from localnova.harness import LocalNovaHandle
from watcher_temporal.activities.nova import NovaGateway
from watcher_temporal.activities.service_state import ServiceStateActivities
from watcher_temporal.contract import ServiceState, ServiceStateChange, ServiceStateRequest

pytestmark = pytest.mark.integration


@pytest.fixture
def acts(localnova: LocalNovaHandle) -> Iterator[ServiceStateActivities]:
    nova = NovaGateway(connect=localnova.connect)
    yield ServiceStateActivities(nova)
    compute = localnova.conn.compute
    for service in compute.services(binary="nova-compute"):
        if service.status == "disabled":
            compute.enable_service(service)
    nova.close()


def service_state(cloud: LocalNovaHandle, host: str) -> tuple[str, str | None]:
    [service] = list(cloud.conn.compute.services(binary="nova-compute", host=host))
    return service.status, service.disabled_reason


async def test_a_retry_after_its_own_change_still_reports_the_state_before(
    acts: ServiceStateActivities, localnova: LocalNovaHandle
) -> None:
    request = ServiceStateRequest(host="host3", state=ServiceState.DISABLED, disabled_reason="watcher_maintaining")
    heartbeats: list[ServiceStateChange] = []
    first_env = ActivityEnvironment()
    first_env.on_heartbeat = lambda *details: heartbeats.append(details[0])
    first = await first_env.run(acts.change_nova_service_state, request)
    assert first.changed and first.previous_state is ServiceState.ENABLED
    assert service_state(localnova, "host3") == ("disabled", "watcher_maintaining")

    # The response was lost: Temporal retries with the heartbeat details, as decoded JSON.
    retry_env = ActivityEnvironment()
    retry_env.info = dataclasses.replace(
        retry_env.info, attempt=2, heartbeat_details=[heartbeats[-1].model_dump(mode="json")]
    )
    retry = await retry_env.run(acts.change_nova_service_state, request)
    assert retry.changed and retry.previous_state is ServiceState.ENABLED  # not "already disabled: SKIPPED"


async def test_already_in_that_state_is_skipped(acts: ServiceStateActivities, localnova: LocalNovaHandle) -> None:
    request = ServiceStateRequest(host="host2", state=ServiceState.ENABLED)
    result = await ActivityEnvironment().run(acts.change_nova_service_state, request)
    assert not result.changed
    assert service_state(localnova, "host2")[0] == "enabled"

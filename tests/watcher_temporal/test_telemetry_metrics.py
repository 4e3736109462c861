"""The worker's Prometheus endpoint serves Temporal's SDK metrics and the project's own."""

from __future__ import annotations

import socket
import urllib.request
import uuid

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from localnova.harness import LocalNovaHandle
from tests.conditions import until
from tests.realstack import boot_on
from watcher_temporal.activities.nova import NovaGateway
from watcher_temporal.config import data_converter
from watcher_temporal.contract import MigrateServerInput, MigrationStatus
from watcher_temporal.metrics import DURATION, MIGRATIONS, prometheus_runtime
from watcher_temporal.starter import start_migration
from watcher_temporal.worker import build_worker

pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_no_address_no_runtime() -> None:
    assert prometheus_runtime(None) is None


async def test_prometheus_endpoint_has_sdk_and_migration_metrics(
    dev_env: WorkflowEnvironment, localnova: LocalNovaHandle
) -> None:
    address = f"127.0.0.1:{free_port()}"
    runtime = prometheus_runtime(address)
    assert runtime is not None
    client = await Client.connect(
        dev_env.client.service_client.config.target_host,
        namespace=dev_env.client.namespace,
        data_converter=data_converter({}),
        runtime=runtime,
    )
    server = boot_on(localnova, "host1")
    nova = NovaGateway(connect=localnova.connect)
    task_queue = f"metrics-{uuid.uuid4().hex[:8]}"
    async with build_worker(client, task_queue=task_queue, nova=nova):
        params = MigrateServerInput(
            resource_id=server, migration_type="live", source_node="host1", destination_node="host2"
        )
        result = await (await start_migration(client, params, task_queue=task_queue)).result()
        assert result.status is MigrationStatus.SUCCEEDED

        def scrape() -> str:
            with urllib.request.urlopen(f"http://{address}/metrics", timeout=5) as response:
                return str(response.read().decode())

        await until(lambda: MIGRATIONS in scrape(), timeout=20, what="the migration is counted")
        text = scrape()
    nova.close()
    counted = [line for line in text.splitlines() if line.startswith(MIGRATIONS + "{")]
    assert any('outcome="succeeded"' in line and 'migration_type="live"' in line for line in counted), counted
    assert f"{DURATION}_bucket" in text
    assert "temporal_workflow_completed" in text or "temporal_request" in text  # the SDK's own metrics

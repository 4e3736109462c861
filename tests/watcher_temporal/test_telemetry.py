"""One trace per migration, down to every Nova HTTP request, and no credential in it.

A real migration (dev server, localnova through unmodified openstacksdk) is
traced into an in-memory exporter; then every span attribute, span name,
event and captured log record is scanned for the cloud's token/password.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from localnova.harness import LocalNova, LocalNovaHandle
from watcher_temporal.activities.nova import NovaGateway
from watcher_temporal.contract import MigrateServerInput, MigrationStatus
from watcher_temporal.starter import start_migration
from watcher_temporal.telemetry import _span_name, instrument_requests, tracing_interceptor, uninstrument_requests
from watcher_temporal.worker import build_worker

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def traced() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    instrument_requests(provider)
    yield provider, exporter
    uninstrument_requests()
    provider.shutdown()


def _keystone_available() -> bool:
    try:
        import localnova.identity  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.fixture(params=["admin_token", "keystone"])
def cloud(request: pytest.FixtureRequest, localnova_cloud: LocalNovaHandle) -> Iterator[LocalNovaHandle]:
    """The session cloud (admin_token auth) or a cloud behind a real keystone (password auth)."""
    if request.param == "admin_token":
        localnova_cloud.reset_config()
        yield localnova_cloud
        return
    if not _keystone_available():
        pytest.skip("localnova has no keystone mode here (localnova.identity or keystone missing)")
    with LocalNova(hosts=("host1", "host2"), keystone=True) as handle:
        yield handle


def secrets_of(clouds_yaml: Path, name: str) -> list[str]:
    auth = yaml.safe_load(clouds_yaml.read_text())["clouds"][name]["auth"]
    found = [str(auth[k]) for k in ("token", "password") if auth.get(k)]
    assert found, "the cloud has a credential to look for"
    return found


def strings_of(span: ReadableSpan) -> list[str]:
    values: list[Any] = [span.name, *span.attributes.values()]
    for event in span.events:
        values += [event.name, *event.attributes.values()]
    return [str(v) for v in values]


async def test_one_trace_from_starter_to_nova_requests_without_credentials(
    dev_env: WorkflowEnvironment,
    traced: tuple[TracerProvider, InMemorySpanExporter],
    cloud: LocalNovaHandle,
    caplog: pytest.LogCaptureFixture,
) -> None:
    provider, exporter = traced
    exporter.clear()
    caplog.set_level(logging.DEBUG)
    client = Client(
        dev_env.client.service_client,
        namespace=dev_env.client.namespace,
        data_converter=pydantic_data_converter,
        interceptors=[tracing_interceptor(provider)],
    )
    [server] = cloud.boot_servers(1, hosts=["host1"], name_prefix="otel")
    exporter.clear()  # only the migration's spans from here
    connections: list[Any] = []

    def connect() -> Any:
        connection = cloud.connect()
        connections.append(connection)
        return connection

    nova = NovaGateway(connect=connect)
    task_queue = f"otel-{uuid.uuid4().hex[:8]}"
    async with build_worker(client, task_queue=task_queue, nova=nova):
        params = MigrateServerInput(
            resource_id=server,
            migration_type="live",
            source_node="host1",
            destination_node="host2",
            poll_interval_seconds=0.5,
        )
        handle = await start_migration(client, params, task_queue=task_queue)
        result = await handle.result()
    # The tokens the worker really sent (keystone issues a fresh one per login).
    tokens = [connection.auth_token for connection in connections]
    nova.close()
    assert result.status is MigrationStatus.SUCCEEDED

    spans = exporter.get_finished_spans()
    workflow_id = f"migrate-{server}"
    temporal = [s for s in spans if (s.attributes or {}).get("temporalWorkflowID") == workflow_id]
    names = {s.name for s in temporal}
    assert {"StartWorkflow:MigrateServer", "RunWorkflow:MigrateServer"} <= names
    run_activities = {s.context.span_id: s for s in temporal if s.name.startswith("RunActivity:")}
    assert {s.name for s in run_activities.values()} >= {
        "RunActivity:migrate.pre_execute",
        "RunActivity:migrate.execute",
        "RunActivity:migrate.wait_for_migration",
        "RunActivity:migrate.post_execute",
    }
    trace_ids = {s.context.trace_id for s in temporal}
    assert len(trace_ids) == 1, "starter, workflow and activities share one trace"

    http = [s for s in spans if "http.request.method" in (s.attributes or {}) or "http.method" in (s.attributes or {})]
    nova_requests = [s for s in http if s.parent is not None and s.parent.span_id in run_activities]
    assert nova_requests, "Nova requests are traced"
    assert all(s.context.trace_id in trace_ids for s in nova_requests)
    with_requests = {run_activities[s.parent.span_id].name for s in nova_requests if s.parent is not None}
    assert with_requests >= {"RunActivity:migrate.pre_execute", "RunActivity:migrate.execute"}
    assert any(s.name.startswith("POST /v2.1/servers/{id}/action") for s in nova_requests), [
        s.name for s in nova_requests
    ]

    assert tokens and all(tokens), "the worker authenticated"
    secrets = secrets_of(cloud.clouds_yaml, cloud.cloud_name) + tokens
    for span in spans:
        for text in strings_of(span):
            for secret in secrets:
                assert secret not in text, f"credential in span {span.name}"
    for record in caplog.records:
        message = record.getMessage()
        for secret in secrets:
            assert secret not in message, f"credential in log record of {record.name}"


def test_request_span_names_hide_ids_and_queries() -> None:
    url = "http://127.0.0.1:1/v2.1/servers/0b5b6c5a-9b8e-4f0a-8f4e-6f1d2b3c4d5e/migrations/12?x=token"
    assert _span_name("GET", url) == "GET /v2.1/servers/{id}/migrations/{n}"

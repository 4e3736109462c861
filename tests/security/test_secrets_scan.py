"""A real migration leaves the cloud's credentials nowhere an operator or attacker can read.

One live migration per auth mode (token; password through a real keystone)
(dev server, localnova through unmodified openstacksdk,
plaintext payloads so that a leak would show) with everything recording: the
workflow's history (serialised), its memo and search attributes (describe),
its progress query, every log record and the formatted log output, every
span, and the Prometheus text. The cloud's password / token (from its
clouds.yaml) and the tokens the worker really sent appear in none of them.
"""

from __future__ import annotations

import base64
import importlib.util
import io
import json
import logging
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from google.protobuf import json_format
from google.protobuf.message import Message
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from localnova.harness import LocalNova, LocalNovaHandle
from tests.conditions import until
from tests.realstack import boot_on
from tests.watcher_temporal.test_codec import payloads_in
from tests.watcher_temporal.test_telemetry import secrets_of
from tests.watcher_temporal.test_telemetry_metrics import free_port
from watcher_temporal.activities.nova import NovaGateway
from watcher_temporal.config import data_converter
from watcher_temporal.contract import PROGRESS_QUERY, MigrateServerInput, MigrationStatus, MigrationType
from watcher_temporal.metrics import MIGRATIONS, prometheus_runtime
from watcher_temporal.starter import start_migration
from watcher_temporal.telemetry import instrument_requests, tracing_interceptor, uninstrument_requests
from watcher_temporal.untrusted import install_log_filter
from watcher_temporal.worker import build_worker

pytestmark = pytest.mark.integration


@pytest.fixture
def traced() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    instrument_requests(provider)
    yield provider, exporter
    uninstrument_requests()
    provider.shutdown()


@pytest.fixture(params=["admin_token", "keystone"])
def cloud(request: pytest.FixtureRequest, localnova: LocalNovaHandle) -> Iterator[LocalNovaHandle]:
    """The session cloud (token auth), then one behind a real keystone (password auth)."""
    if request.param == "admin_token":
        yield localnova
        return
    if importlib.util.find_spec("localnova.identity") is None:
        pytest.skip("localnova has no keystone mode here")
    with LocalNova(hosts=("host1", "host2"), keystone=True) as handle:
        yield handle


@pytest.fixture
def worker_log() -> Iterator[io.StringIO]:
    """The worker's log output as an operator sees it (worker.configure_logging's format and filter)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    install_log_filter(root)
    level = root.level
    root.setLevel(logging.DEBUG)
    yield stream
    root.setLevel(level)
    root.removeHandler(handler)


async def test_no_credential_in_history_memo_attributes_query_logs_spans_metrics(
    dev_env: WorkflowEnvironment,
    cloud: LocalNovaHandle,
    traced: tuple[TracerProvider, InMemorySpanExporter],
    worker_log: io.StringIO,
    caplog: pytest.LogCaptureFixture,
) -> None:
    provider, exporter = traced
    address = f"127.0.0.1:{free_port()}"
    client = await Client.connect(
        dev_env.client.service_client.config.target_host,
        namespace=dev_env.client.namespace,
        data_converter=data_converter({}),  # plaintext: a leak would be readable
        interceptors=[tracing_interceptor(provider)],
        runtime=prometheus_runtime(address),
    )
    caplog.set_level(logging.DEBUG)
    server = boot_on(cloud, "host1")
    connections: list[Any] = []

    def connect() -> Any:
        connections.append(cloud.connect())
        return connections[-1]

    nova = NovaGateway(connect=connect)
    task_queue = f"secrets-{uuid.uuid4().hex[:8]}"
    async with build_worker(client, task_queue=task_queue, nova=nova):
        params = MigrateServerInput(
            resource_id=server,
            migration_type=MigrationType.LIVE,
            source_node="host1",
            destination_node="host2",
            poll_interval_seconds=0.5,
        )
        handle = await start_migration(client, params, task_queue=task_queue)
        result = await handle.result()
        progress = await handle.query(PROGRESS_QUERY)

        def scrape() -> str:
            with urllib.request.urlopen(f"http://{address}/metrics", timeout=5) as response:
                return str(response.read().decode())

        await until(lambda: MIGRATIONS in scrape(), timeout=20, what="the migration is counted")
        metrics = scrape()
    tokens = [c.auth_token for c in connections]
    nova.close()
    assert result.status is MigrationStatus.SUCCEEDED
    assert tokens and all(tokens), "the worker authenticated"

    history = readable((await handle.fetch_history()).to_json_dict(), *(await handle.fetch_history()).events)
    raw_description = (await handle.describe()).raw_description
    description = readable(json_format.MessageToDict(raw_description), raw_description)
    places = {
        "history": history,
        "memo and search attributes": description,
        "progress query": repr(progress),
        "log records": "\n".join(r.getMessage() for r in caplog.records),
        "worker log output": worker_log.getvalue(),
        "spans": "\n".join(
            " ".join(str(v) for v in [s.name, *(s.attributes or {}).values()])
            + " ".join(f"{e.name} {dict(e.attributes or {})}" for e in s.events)
            for s in exporter.get_finished_spans()
        ),
        "metrics": metrics,
    }
    # Each place holds real content of this migration: the scan can fail.
    assert server in history and server in description and "host2" in history
    assert server in places["log records"] or "host2" in places["worker log output"]
    assert "RunActivity:migrate.execute" in places["spans"] and "POST" in places["spans"]
    assert MIGRATIONS in metrics
    secrets = secrets_of(cloud.clouds_yaml, cloud.cloud_name) + tokens
    secrets += [base64.b64encode(s.encode()).decode() for s in secrets]
    for where, text in places.items():
        for secret in secrets:
            assert secret not in text, f"a cloud credential in {where}"


def readable(as_json: Any, *messages: Message) -> str:
    """A history or description as JSON, plus every payload's data decoded (JSON has it in base64)."""
    decoded = [p.data.decode(errors="replace") for m in messages for _, p in payloads_in(m)]
    assert decoded, "payloads were found"
    return json.dumps(as_json) + "\n" + "\n".join(decoded)

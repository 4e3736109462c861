"""Every metric the alert rules and the dashboard name exists on a worker's /metrics after a short plan.

A worker with its Prometheus endpoint runs a short MaintenancePlan on localnova
(two live migrations, a nop) and one workflow whose task fails (so Temporal's
failure counter exists), then its endpoint is scraped once.
"""

from __future__ import annotations

import asyncio
import re
import socket
import urllib.request
import uuid

import pytest
from temporalio import workflow
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from localnova.harness import LocalNovaHandle
from tests.conditions import until
from tests.observability.dashboards import dashboard_expressions, metric_names, rule_expressions
from tests.realstack import boot_on
from watcher_temporal.activities.nova import NovaGateway
from watcher_temporal.config import data_converter
from watcher_temporal.contract import PlanState, PlanStatus
from watcher_temporal.metrics import prometheus_runtime
from watcher_temporal.worker import build_worker
from watcher_temporal.workflows import ALL_WORKFLOWS

pytestmark = pytest.mark.integration


@workflow.defn(name="TaskAlwaysFails", sandboxed=False)
class TaskAlwaysFails:
    """A workflow whose every task fails (a bug, as Temporal sees one): it never completes."""

    @workflow.run
    async def run(self) -> None:
        raise RuntimeError("a bug in workflow code")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def migrate(action_id: str, server: str) -> dict[str, object]:
    params = {"resource_id": server, "migration_type": "live", "source_node": "host1", "destination_node": "host2"}
    return {"id": action_id, "action_type": "migrate", "input_parameters": {**params, "poll_interval_seconds": 0.5}}


async def test_every_metric_of_the_rules_and_the_dashboard_exists(
    dev_env: WorkflowEnvironment, localnova: LocalNovaHandle
) -> None:
    wanted = metric_names(rule_expressions()) | metric_names(dashboard_expressions())
    address = f"127.0.0.1:{free_port()}"
    client = await Client.connect(
        dev_env.client.service_client.config.target_host,
        namespace=dev_env.client.namespace,
        data_converter=data_converter({}),
        runtime=prometheus_runtime(address),
    )
    localnova.configure(live_migration_seconds=1)
    servers = [boot_on(localnova, "host1") for _ in range(2)]
    plan = {
        "actions": [migrate("m1", servers[0]), migrate("m2", servers[1]), {"id": "n", "action_type": "nop"}],
        "max_parallel_per_source": 2,
    }
    task_queue = f"metrics-{uuid.uuid4().hex[:8]}"
    nova = NovaGateway(connect=localnova.connect)

    def scrape() -> str:
        with urllib.request.urlopen(f"http://{address}/metrics", timeout=5) as response:
            return str(response.read().decode())

    def families(text: str) -> set[str]:
        return {m.group(1) for m in re.finditer(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]", text, re.M)}

    async with build_worker(client, task_queue=task_queue, nova=nova, workflows=[*ALL_WORKFLOWS, TaskAlwaysFails]):
        failing = await client.start_workflow(TaskAlwaysFails.run, id=f"fails-{uuid.uuid4()}", task_queue=task_queue)
        handle = await client.start_workflow(
            "MaintenancePlan", plan, id=f"plan-{uuid.uuid4()}", task_queue=task_queue, result_type=PlanStatus
        )
        result = await asyncio.wait_for(handle.result(), 300)
        await until(
            lambda: "temporal_workflow_task_execution_failed" in scrape(), timeout=60, what="a failed task counted"
        )
        await until(lambda: wanted <= families(scrape()), timeout=30, what="every metric exported")
        await failing.terminate("test over")
    nova.close()
    assert result.state is PlanState.SUCCEEDED
    assert wanted - families(scrape()) == set()

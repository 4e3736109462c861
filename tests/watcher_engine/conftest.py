"""Watcher's real applier beside the session's dev server, worker and localnova.

Skipped as a whole when python-watcher is not installed (it is in the dev extra).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator

import pytest
import yaml
from temporalio.testing import WorkflowEnvironment

from localnova.harness import LocalNovaHandle
from tests.conditions import until
from tests.postgres import PostgresCluster, start_cluster
from tests.realstack import RunningWorker

pytest.importorskip("watcher", reason="python-watcher is not installed (pip install -e '.[dev]')")

from watcher.common import oslo_service_helper

# Before any Watcher module picks oslo.service's (eventlet) default backend.
oslo_service_helper.init_oslo_service_backend()

from tests.watcher_engine.processes import StandaloneWorker, worker_env  # noqa: E402
from tests.watcher_engine.watcher_stack import WatcherStack, start_watcher  # noqa: E402

#: ``[nova] migration_interval`` the tests give Watcher: the engine hands it to MigrateServer.
MIGRATION_INTERVAL = 0.5
ENGINE_GROUP = "watcher_workflow_engines.temporal"


@pytest.fixture
def clean_cloud(localnova: LocalNovaHandle) -> Iterator[LocalNovaHandle]:
    """No servers, every compute service enabled, before and after."""

    def reset() -> None:
        localnova.delete_all_servers()
        for svc in localnova.conn.compute.services(binary="nova-compute"):
            if svc.status != "enabled":
                localnova.conn.compute.enable_service(svc, host=svc.host, binary="nova-compute")

    reset()
    yield localnova
    reset()


@pytest.fixture(scope="session")
def watcher_postgres() -> Iterator[PostgresCluster]:
    """A throwaway PostgreSQL 15 cluster for Watcher's DB (127.0.0.1, free port); stopped at session end."""
    cluster = start_cluster()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def watcher_stack(
    watcher_postgres: PostgresCluster,
    dev_env: WorkflowEnvironment,
    worker: RunningWorker,
    localnova_cloud: LocalNovaHandle,
    tmp_path_factory: pytest.TempPathFactory,
) -> WatcherStack:
    """Watcher configured with ``workflow_engine = temporal`` pointing at the session worker.

    Its DB is a fresh database on the session's PostgreSQL cluster.

    Watcher's own Nova client (used by its action classes on the generic path,
    which run in this process's worker) reaches localnova with its admin token.
    """
    entry = yaml.safe_load(localnova_cloud.clouds_yaml.read_text())["clouds"][localnova_cloud.cloud_name]
    return start_watcher(
        tmp_path_factory.mktemp("watcher"),
        database_url=watcher_postgres.create_database(),
        engine={
            "workflow_engine": "temporal",
            "address": dev_env.client.service_client.config.target_host,
            "namespace": dev_env.client.namespace,
            "task_queue": worker.task_queue,
            "status_interval": "0.2",
            "max_parallel_per_host": "4",
            # max_parallel_per_source and queued_per_source at their defaults (1 and 1): Watcher's chunks
            # of 2 leave one host together, the second waiting queued in Nova, as with taskflow.
        },
        nova={
            "migration_interval": str(MIGRATION_INTERVAL),
            "migration_max_retries": "240",
            "endpoint_override": localnova_cloud.endpoint,
        },
        clients_auth={
            "auth_type": "admin_token",
            "endpoint": entry["auth"]["endpoint"],
            "token": entry["auth"]["token"],
        },
    )


@pytest.fixture
def engine_option(watcher_stack: WatcherStack) -> Iterator[Callable[..., None]]:
    """Set options of ``[watcher_workflow_engines.temporal]`` (or ``[watcher_applier]``) for one test."""
    from oslo_config import cfg

    from watcher_temporal.watcher_engine.options import config_opts

    if ENGINE_GROUP not in cfg.CONF:
        cfg.CONF.register_opts(config_opts(), group=ENGINE_GROUP)
    changed: list[tuple[str, str]] = []

    def set_option(name: str, value: str, group: str = ENGINE_GROUP) -> None:
        cfg.CONF.set_override(name, value, group=group)
        changed.append((name, group))

    yield set_option
    for name, group in changed:
        cfg.CONF.clear_override(name, group=group)


@pytest.fixture
def failure_policy(engine_option: Callable[..., None]) -> Callable[[str], None]:
    """Set ``[watcher_workflow_engines.temporal] failure_policy`` for one test."""
    return lambda value: engine_option("failure_policy", value)


@pytest.fixture
async def standalone_worker(
    dev_env: WorkflowEnvironment, localnova_cloud: LocalNovaHandle, watcher_stack: WatcherStack
) -> AsyncIterator[StandaloneWorker]:
    """``watcher-temporal-worker`` as its own process, with Watcher's config file, on a fresh task queue."""
    env = worker_env(
        cloud_env=localnova_cloud.env(),
        address=dev_env.client.service_client.config.target_host,
        namespace=dev_env.client.namespace,
        watcher_config=watcher_stack.config_file,
    )
    worker = StandaloneWorker(env=env, log=watcher_stack.config_file.with_name(f"worker-{uuid.uuid4().hex[:6]}.log"))
    try:
        await until(worker.polling, timeout=120, what="the standalone worker polls its task queue")
        yield worker
    finally:
        worker.stop()

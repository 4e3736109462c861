"""The watcher-temporal worker: ``python worker.py``.

Connects to Temporal from the environment (see :mod:`watcher_temporal.config`),
to Nova through openstacksdk's own configuration (``OS_CLOUD`` + clouds.yaml,
or ``OS_*``), registers every workflow and activity on the task queue
(``TEMPORAL_TASK_QUEUE``, default ``watcher-actions``) and runs until SIGINT or
SIGTERM, then shuts down gracefully: running activities get
``WORKER_SHUTDOWN_SECONDS`` to finish, and anything unfinished is retried by
another worker (the heartbeating waits resume from their last heartbeat).

Operations: ``WATCHER_TEMPORAL_METRICS_ADDRESS`` (e.g. ``0.0.0.0:9464``) serves
Prometheus metrics (:mod:`watcher_temporal.metrics`); ``OTEL_EXPORTER_OTLP_ENDPOINT``
/ ``WATCHER_TEMPORAL_TRACE_CONSOLE=1`` export traces down to each Nova request
(:mod:`watcher_temporal.telemetry`); ``WATCHER_TEMPORAL_CODEC_KEY[S|_FILE]``
encrypts payloads and ``WATCHER_TEMPORAL_REQUIRE_ENCRYPTION=1`` refuses
plaintext ones (:mod:`watcher_temporal.codec`). Log records are one line each,
untrusted text escaped (:mod:`watcher_temporal.untrusted`). At start-up the worker
registers the project's search attributes if the namespace lacks them
(``WATCHER_TEMPORAL_REGISTER_SEARCH_ATTRIBUTES=0`` skips that).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import signal
from collections.abc import Sequence
from datetime import timedelta

from temporalio.client import Client
from temporalio.worker import Worker

from watcher_temporal.activities import all_activities
from watcher_temporal.activities.nova import NovaGateway
from watcher_temporal.config import TemporalSettings, connect_client
from watcher_temporal.metrics import runtime_from_env
from watcher_temporal.search_attributes import ensure_registered
from watcher_temporal.telemetry import configure_tracing, tracing_interceptor
from watcher_temporal.untrusted import install_log_filter
from watcher_temporal.workflows import ALL_WORKFLOWS

logger = logging.getLogger("watcher_temporal.worker")

#: Threads for blocking openstacksdk calls; each in-flight Nova call holds one.
NOVA_THREADS = 64
WORKER_SHUTDOWN_SECONDS = 30.0


def build_worker(
    client: Client, *, task_queue: str, nova: NovaGateway, workflows: Sequence[type] = tuple(ALL_WORKFLOWS)
) -> Worker:
    """A worker with every workflow and activity of the project registered."""
    return Worker(
        client,
        task_queue=task_queue,
        workflows=list(workflows),
        activities=all_activities(nova),
        graceful_shutdown_timeout=timedelta(seconds=WORKER_SHUTDOWN_SECONDS),
    )


async def run_worker(settings: TemporalSettings, *, stop: asyncio.Event, nova: NovaGateway | None = None) -> None:
    """Run until ``stop`` is set."""
    loop = asyncio.get_running_loop()
    loop.set_default_executor(concurrent.futures.ThreadPoolExecutor(NOVA_THREADS, thread_name_prefix="nova"))
    client = await connect_client(settings, interceptors=[tracing_interceptor()], runtime=runtime_from_env())
    await ensure_registered(client)
    nova = nova or NovaGateway()
    try:
        async with build_worker(client, task_queue=settings.task_queue, nova=nova):
            logger.info(
                "worker polling task queue %r on %s (namespace %s)",
                settings.task_queue,
                settings.address,
                settings.namespace,
            )
            await stop.wait()
            logger.info("shutting down: waiting up to %gs for running activities", WORKER_SHUTDOWN_SECONDS)
    finally:
        nova.close()


def configure_logging() -> None:
    """Log to stderr; openstacksdk/keystoneauth never below INFO (DEBUG prints headers)."""
    logging.basicConfig(
        level=os.environ.get("WATCHER_TEMPORAL_LOG_LEVEL", "INFO").upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    install_log_filter()  # untrusted text (names, hosts, messages) never forges a log line
    for noisy in ("openstack", "keystoneauth", "urllib3", "stevedore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


async def _main() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    provider = configure_tracing("watcher-temporal-worker")
    try:
        await run_worker(TemporalSettings.from_env(), stop=stop)
    finally:
        if provider is not None:
            provider.shutdown()


def main() -> None:
    configure_logging()
    asyncio.run(_main())


if __name__ == "__main__":
    main()

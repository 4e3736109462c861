"""The watcher-temporal worker: ``watcher-temporal-worker`` (or ``python worker.py``).

Reads every setting once (:class:`watcher_temporal.config.Settings`), checks
that Nova answers and accepts its credentials (openstacksdk's own
configuration: ``OS_CLOUD`` + clouds.yaml, or ``OS_*``) and refuses to start
otherwise, registers missing search attributes, then runs every workflow and
activity of the project on the task queue until SIGINT or SIGTERM. On
shutdown, running activities get ``shutdown_seconds`` to finish; anything
unfinished is retried by another worker (the waits resume from their last
heartbeat).

Concurrency is sized from one setting, ``WATCHER_TEMPORAL_MAX_IN_FLIGHT``
(default 1,000 migrations per process): activity slots, of which at most
:data:`STEP_SLOTS` run short migration steps at once (a start burst waits on
the task queue, not in the worker: :mod:`watcher_temporal.step_slots`), and
workflow-task slots, run on :data:`WORKFLOW_THREADS` threads; activities are
polled, never eagerly dispatched, and each attempt heartbeats the moment it
begins (:mod:`watcher_temporal.first_heartbeat`), so a start burst's
heartbeat timeouts never run while a task travels to the worker; the event loop's
lag is measured and logged (:mod:`watcher_temporal.loop_lag`);
``WATCHER_TEMPORAL_NOVA_THREADS`` sizes the threads for blocking Nova calls
and the HTTP connection pool to Nova. The waits hold no thread: they share one
Nova observer per process (:mod:`watcher_temporal.activities.observer`), whose
polls take one thread per tick; ``WATCHER_TEMPORAL_NOVA_OBSERVER=0`` makes each
wait poll Nova for itself instead (the old path, kept for comparison).

Payload encryption (``WATCHER_TEMPORAL_CODEC_KEY[S|_FILE]``,
``WATCHER_TEMPORAL_REQUIRE_ENCRYPTION=1``) is :mod:`watcher_temporal.codec`'s.
Log records are one line each, untrusted text escaped
(:mod:`watcher_temporal.untrusted`).
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import logging
import signal
import sys
from collections.abc import Callable, Sequence
from datetime import timedelta

from temporalio.client import Client
from temporalio.runtime import Runtime
from temporalio.worker import FixedSizeSlotSupplier, Worker, WorkerTuner

from watcher_temporal.activities import all_activities
from watcher_temporal.activities.nova import NovaGateway
from watcher_temporal.activities.observer import READ_THREADS, NovaObserver
from watcher_temporal.codec import CodecKeyError
from watcher_temporal.config import Settings, WorkerSettings, connect_client
from watcher_temporal.contract import MigrateActivity
from watcher_temporal.errors import TemporalUnreachable, WatcherTemporalError
from watcher_temporal.failures import install_activity_failure_log
from watcher_temporal.first_heartbeat import FirstHeartbeatInterceptor
from watcher_temporal.loop_lag import LoopLagMonitor
from watcher_temporal.metrics import initialize as initialize_metrics
from watcher_temporal.metrics import prometheus_runtime
from watcher_temporal.process_exit import exit_process
from watcher_temporal.process_memory import limit_malloc_arenas
from watcher_temporal.search_attributes import ensure_registered
from watcher_temporal.step_slots import StepSlots
from watcher_temporal.telemetry import configure_tracing, tracing_interceptor
from watcher_temporal.untrusted import install_log_filter
from watcher_temporal.workflows import ALL_WORKFLOWS

logger = logging.getLogger("watcher_temporal.worker")

#: Longest delay between an activity's heartbeat and its report to the server.
HEARTBEAT_THROTTLE = timedelta(seconds=1)
#: A workflow task waits this long on the sticky queue of the worker that has
#: the run cached before any worker takes it (the SDK's default is 10 s): a
#: killed worker delays its workflows by this, not by 10 s.
STICKY_TIMEOUT = timedelta(seconds=3)
#: Threads that run workflow tasks. Workflow code is Python under one GIL: more
#: threads decide no faster, they only take the GIL from the event loop, which
#: sends every heartbeat (a start burst on 50 threads made the loop run seconds
#: late and the server time out live activities).
WORKFLOW_THREADS = 2
#: Short migration steps one worker runs at once (see
#: :mod:`watcher_temporal.step_slots`): enough to keep a Nova busy, few enough
#: that their heartbeats always get out; the rest wait on the task queue, not
#: started, for this worker or another.
STEP_SLOTS = 32
#: The activities bounded by STEP_SLOTS: each migration start runs the first
#: two, a burst of starts runs hundreds of them.
STEP_TYPES = frozenset(
    {
        MigrateActivity.PRE_EXECUTE.value,
        MigrateActivity.EXECUTE.value,
        MigrateActivity.POST_EXECUTE.value,
        MigrateActivity.FORCE_COMPLETE.value,
    }
)
#: Local-activity slots (plan ``nop`` actions).
LOCAL_ACTIVITY_SLOTS = 100


def tuner(settings: WorkerSettings) -> WorkerTuner:
    """The worker's slots: workflow tasks and local activities fixed, activities by :class:`StepSlots`."""
    return WorkerTuner.create_composite(
        workflow_supplier=FixedSizeSlotSupplier(settings.max_concurrent_workflow_tasks),
        activity_supplier=StepSlots(total=settings.max_concurrent_activities, steps=STEP_SLOTS, step_types=STEP_TYPES),
        local_activity_supplier=FixedSizeSlotSupplier(LOCAL_ACTIVITY_SLOTS),
        nexus_supplier=FixedSizeSlotSupplier(1),
    )


class NovaNotUsable(RuntimeError):
    """The worker's Nova cannot be reached or refuses its credentials; the worker does not start."""


def build_worker(
    client: Client,
    *,
    task_queue: str,
    nova: NovaGateway,
    settings: WorkerSettings | None = None,
    workflows: Sequence[type] = tuple(ALL_WORKFLOWS),
    observer: NovaObserver | None = None,
    activities: Sequence[Callable[..., object]] | None = None,
    workflow_threads: concurrent.futures.ThreadPoolExecutor | None = None,
    first_heartbeat: FirstHeartbeatInterceptor | None = None,
) -> Worker:
    """A worker with every workflow and activity of the project registered.

    Its waits share ``observer`` (one per process); without one, one is made
    here unless ``settings.nova_observer`` is off (then each wait polls Nova
    for itself, today's per-migration path, kept for comparison).
    ``activities`` replaces the project's (benchmarks run stand-ins).
    Workflow tasks run on ``workflow_threads`` (the caller shuts it down);
    without it on :data:`WORKFLOW_THREADS` threads of the worker's own.
    Every activity attempt heartbeats as it begins (``first_heartbeat``, which
    also counts the attempts that began late; a new one without it).
    """
    settings = settings or WorkerSettings()
    if observer is None and settings.nova_observer and activities is None:
        observer = NovaObserver(nova)
    # The project's counters start at zero, and Nova's requests are counted, on
    # the client's runtime: the same /metrics endpoint as the SDK's own.
    meter = (client.service_client.config.runtime or Runtime.default()).metric_meter
    initialize_metrics(meter)
    nova.count_requests(meter)
    return Worker(
        client,
        task_queue=task_queue,
        workflows=list(workflows),
        activities=list(activities)
        if activities is not None
        else all_activities(nova, observer=observer, client=client),
        tuner=tuner(settings),
        workflow_task_executor=workflow_threads
        or concurrent.futures.ThreadPoolExecutor(WORKFLOW_THREADS, thread_name_prefix="workflow"),
        max_cached_workflows=settings.workflow_cache_size,
        graceful_shutdown_timeout=timedelta(seconds=settings.shutdown_seconds),
        # Heartbeats (and with them cancels and a dead worker's detection) reach the
        # server within HEARTBEAT_THROTTLE instead of 80 % of the heartbeat timeout.
        max_heartbeat_throttle_interval=HEARTBEAT_THROTTLE,
        default_heartbeat_throttle_interval=HEARTBEAT_THROTTLE,
        sticky_queue_schedule_to_start_timeout=STICKY_TIMEOUT,
        # An activity's heartbeat timeout runs from when the server hands it out.
        # Eagerly dispatched, it is handed out as the workflow task completes and
        # travels back in that answer: under a start burst seconds later, with its
        # 4 s already running, and around the step slots. Polled, it is handed out
        # only to a poller with a free slot, and its first beat goes at once.
        disable_eager_activity_execution=True,
        interceptors=[first_heartbeat or FirstHeartbeatInterceptor()],
    )


async def check_nova(nova: NovaGateway) -> None:
    """Fail fast, with what to fix, when Nova cannot serve this worker.

    Raises:
        NovaNotUsable: unreachable, wrong credentials, unknown cloud, or no
            admin rights (the migrate actions need them).
    """
    try:
        hosts = await asyncio.to_thread(nova.compute_services)
    except WatcherTemporalError as err:
        raise NovaNotUsable(f"cannot use Nova: {err.message}") from None
    logger.info("Nova answers: %d nova-compute services", len(hosts))


async def connect_checked(settings: Settings, nova: NovaGateway) -> Client:
    """Connect to Temporal (and register search attributes) while Nova is checked: both wait on the network.

    A restarted worker polls sooner (its Nova check and its Temporal set-up
    overlap); it still never polls before its Nova check has passed.

    Raises:
        NovaNotUsable: see :func:`check_nova`.
    """

    async def temporal() -> Client:
        client = await connect_client(
            settings.temporal,
            interceptors=[tracing_interceptor()],
            runtime=prometheus_runtime(settings.telemetry.metrics_address),
            codec=settings.codec,
        )
        if settings.worker.register_search_attributes:
            await ensure_registered(client)
        return client

    if not settings.worker.check_nova:
        return await temporal()
    checking, connecting = asyncio.ensure_future(check_nova(nova)), asyncio.ensure_future(temporal())
    try:
        # A Nova that cannot serve ends the start at once, whatever Temporal does.
        await asyncio.wait({checking, connecting}, return_when=asyncio.FIRST_EXCEPTION)
        await checking
        return await connecting
    finally:
        for task in (checking, connecting):
            task.cancel()


async def run_worker(settings: Settings, *, stop: asyncio.Event, nova: NovaGateway | None = None) -> None:
    """Run until ``stop`` is set.

    Raises:
        NovaNotUsable: see :func:`check_nova` (unless ``check_nova`` is off).
    """
    loop = asyncio.get_running_loop()
    threads = settings.worker.nova_threads
    loop.set_default_executor(concurrent.futures.ThreadPoolExecutor(threads, thread_name_prefix="nova"))
    # One HTTP connection per thread that may call Nova at once: the Nova threads
    # (the observer's ticks among them) and the observer's own read threads.
    nova = nova or NovaGateway(pool_size=threads + READ_THREADS)
    observer = NovaObserver(nova) if settings.worker.nova_observer else None
    lag = LoopLagMonitor()
    first_heartbeat = FirstHeartbeatInterceptor()
    workflow_threads = concurrent.futures.ThreadPoolExecutor(WORKFLOW_THREADS, thread_name_prefix="workflow")
    try:
        client = await connect_checked(settings, nova)
        worker = build_worker(
            client,
            task_queue=settings.temporal.task_queue,
            nova=nova,
            settings=settings.worker,
            observer=observer,
            workflow_threads=workflow_threads,
            first_heartbeat=first_heartbeat,
        )
        async with worker:
            lag.start()  # from the first poll: start-up work (imports, the worker's checks) is not lag
            logger.info(
                "worker polling task queue %r on %s (namespace %s), up to %d in flight",
                settings.temporal.task_queue,
                settings.temporal.address,
                settings.temporal.namespace,
                settings.worker.max_in_flight,
            )
            await stop.wait()
            logger.info("shutting down: waiting up to %gs for running activities", settings.worker.shutdown_seconds)
    finally:
        workflow_threads.shutdown(wait=False)
        await lag.stop()
        if lag.lagged:
            logger.warning("event loop lag: largest %.1f s, %d measurements over 1 s", lag.max_lag, lag.lagged)
        if first_heartbeat.late_starts:
            logger.warning(
                "late activity starts: %d, the longest %.1f s after the server started one",
                first_heartbeat.late_starts,
                first_heartbeat.largest_delay,
            )
        if observer is not None:
            await observer.close()
        nova.close()


def configure_logging(level: str = "INFO") -> None:
    """Log to stderr; openstacksdk/keystoneauth never below WARNING (their DEBUG prints headers)."""
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    install_log_filter()  # untrusted text (names, hosts, messages) never forges a log line
    install_activity_failure_log()  # a deliberate failure is one line, not a traceback per attempt
    for noisy in ("openstack", "keystoneauth", "urllib3", "stevedore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


async def _main(settings: Settings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    provider = configure_tracing("watcher-temporal-worker", settings.telemetry)
    try:
        await run_worker(settings, stop=stop)
    finally:
        if provider is not None:
            provider.shutdown()


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The worker's command line: settings come from the environment, so it only answers ``--help``."""
    parser = argparse.ArgumentParser(
        prog="watcher-temporal-worker",
        description="Run every workflow and activity of watcher-temporal on one task queue until SIGINT or "
        "SIGTERM. At start it checks that Nova answers and accepts its credentials, and registers the search "
        "attributes the namespace lacks.",
        epilog="Settings are environment variables (docs/operations.md lists them all): TEMPORAL_ADDRESS, "
        "TEMPORAL_NAMESPACE, TEMPORAL_TASK_QUEUE, OS_CLOUD + clouds.yaml, WATCHER_TEMPORAL_*. "
        "Exit codes: 0 stopped by SIGINT/SIGTERM, 1 Temporal unreachable, 2 a setting it cannot run with "
        "(bad value, Nova unusable, codec key).",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of ``watcher-temporal-worker``: exit 2 on a configuration it cannot run with, 1 without Temporal."""
    parse_args(argv)  # --help prints and exits 0; an unknown argument exits 2
    try:
        settings = Settings.from_env()
    except ValueError as err:
        print(f"watcher-temporal-worker: {err}", file=sys.stderr)
        raise SystemExit(2) from None
    limit_malloc_arenas(settings.worker.malloc_arenas)  # before any thread starts
    configure_logging(settings.worker.log_level)
    try:
        asyncio.run(_main(settings))
    except (NovaNotUsable, CodecKeyError) as err:
        logger.error("%s; the worker does not start", err)
        exit_process(2)
    except TemporalUnreachable as err:
        logger.error(
            "cannot reach Temporal at %s (TEMPORAL_ADDRESS): %s; the worker does not start", err.address, err.detail
        )
        exit_process(1)
    exit_process(0)


if __name__ == "__main__":
    main()

"""The settings of watcher-temporal: one object, built once from the environment, passed down.

:class:`Settings` gathers everything a process of the project reads from its
environment; :meth:`Settings.from_env` is the only place that reads it
(besides openstacksdk, which reads its own ``OS_*`` / clouds.yaml, and the
SDK's ``temporalio.envconfig``). ``docs/operations.md`` lists every variable
in one table.

Temporal settings follow the ``temporal`` CLI's own conventions, read by the
SDK's ``temporalio.envconfig``: ``TEMPORAL_ADDRESS``, ``TEMPORAL_NAMESPACE``,
``TEMPORAL_API_KEY``, ``TEMPORAL_TLS*`` variables, and config-file profiles
(``TEMPORAL_PROFILE``, ``TEMPORAL_CONFIG_FILE``). ``TEMPORAL_TASK_QUEUE``
picks the task queue (default ``watcher-actions``).

Nova credentials are not here on purpose: openstacksdk reads them itself from
clouds.yaml (``OS_CLOUD``) or ``OS_*`` variables, in the worker only, so they
never enter a workflow input, result or history.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from temporalio.client import Client, Interceptor
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter
from temporalio.envconfig import ClientConfig
from temporalio.runtime import Runtime

from watcher_temporal.codec import CodecSettings
from watcher_temporal.contract import DEFAULT_TASK_QUEUE
from watcher_temporal.errors import TemporalUnreachable
from watcher_temporal.failures import OneLineFailureConverter

DEFAULT_ADDRESS = "localhost:7233"
DEFAULT_NAMESPACE = "default"

#: ``host:port`` where the worker serves Prometheus metrics.
METRICS_ADDRESS_ENV = "WATCHER_TEMPORAL_METRICS_ADDRESS"
#: Migrations one worker process holds in flight by default; sizes its activity
#: slots, workflow-task slots, Nova threads and HTTP connection pool.
DEFAULT_MAX_IN_FLIGHT = 1000
#: Threads for blocking Nova calls by default (each in-flight call holds one).
DEFAULT_NOVA_THREADS = 64


def _truthy(value: str | None, *, default: bool) -> bool:
    if value is None or not value.strip():
        return default
    return value.strip().lower() not in ("0", "false", "no", "off")


_D = TypeVar("_D", int, None)


def _positive_int(env: Mapping[str, str], name: str, default: _D) -> int | _D:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name}={raw[:40]!r}: must be a positive integer") from None
    if value < 1:
        raise ValueError(f"{name}={value}: must be a positive integer")
    return value


@dataclass(frozen=True, kw_only=True)
class TemporalSettings:
    """How to reach Temporal and which task queue to use.

    Attributes:
        connect: Keyword arguments for ``Client.connect`` (address,
            namespace, TLS, API key), as ``temporalio.envconfig`` loads them.
        task_queue: Task queue of the worker and of started workflows.
    """

    connect: Mapping[str, Any] = field(default_factory=dict)
    task_queue: str = DEFAULT_TASK_QUEUE

    @property
    def address(self) -> str:
        return str(self.connect.get("target_host", DEFAULT_ADDRESS))

    @property
    def namespace(self) -> str:
        return str(self.connect.get("namespace", DEFAULT_NAMESPACE))

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> TemporalSettings:
        """Load settings the way the ``temporal`` CLI would, plus the task queue.

        Raises:
            ValueError: a profile or configuration file that cannot be used (named).
        """
        env = os.environ if env is None else env
        try:
            loaded = dict(ClientConfig.load_client_connect_config(override_env_vars=dict(env)))
        except Exception as err:  # noqa: BLE001 - the SDK's bridge raises its own ConfigError (no public class)
            lines = str(err).strip().splitlines()
            detail = lines[0][:300] if lines else type(err).__name__
            raise ValueError(
                f"Temporal client configuration (TEMPORAL_PROFILE / TEMPORAL_CONFIG_FILE): {detail}"
            ) from None
        loaded.setdefault("target_host", DEFAULT_ADDRESS)
        loaded.setdefault("namespace", DEFAULT_NAMESPACE)
        return cls(connect=loaded, task_queue=env.get("TEMPORAL_TASK_QUEUE") or DEFAULT_TASK_QUEUE)


#: glibc malloc arenas of a worker (glibc's default is 8 per core).
DEFAULT_MALLOC_ARENAS = 2


@dataclass(frozen=True, kw_only=True)
class WorkerSettings:
    """How the worker process runs.

    Attributes:
        max_in_flight: Migrations (and other actions) one worker holds at
            once; the activity and workflow-task slots are sized from it.
        nova_threads: Threads for blocking Nova calls; also the size of the
            HTTP connection pool to Nova.
        shutdown_seconds: On SIGINT/SIGTERM, how long running activities get
            before another worker resumes them.
        register_search_attributes: Add missing search attributes at start-up.
        check_nova: Refuse to start when Nova cannot be reached or refuses
            the worker's credentials.
        log_level: Level of the worker's log.
        nova_observer: The waits share one Nova observer per process
            (constant Compute API requests per poll interval); off, each wait
            polls Nova for itself (the old per-migration path, for comparison).
        max_cached_workflows: Workflow runs kept in memory between their
            workflow tasks; None sizes it from ``max_in_flight``.
        malloc_arenas: glibc malloc arenas the worker caps itself at (memory
            follows the work, not the thread count); None when the operator
            set ``MALLOC_ARENA_MAX``, which glibc then applies itself.
    """

    max_in_flight: int = DEFAULT_MAX_IN_FLIGHT
    nova_threads: int = DEFAULT_NOVA_THREADS
    shutdown_seconds: float = 30.0
    register_search_attributes: bool = True
    check_nova: bool = True
    log_level: str = "INFO"
    nova_observer: bool = True
    max_cached_workflows: int | None = None
    malloc_arenas: int | None = DEFAULT_MALLOC_ARENAS

    @property
    def max_concurrent_activities(self) -> int:
        """Activity slots: every in-flight migration holds one (its wait), plus room for short steps."""
        return self.max_in_flight + max(10, self.max_in_flight // 10)

    @property
    def workflow_cache_size(self) -> int:
        """Workflow runs kept in memory: a fifth of ``max_in_flight`` (at least 100) unless set.

        A cached run costs about 120 kB (its sandbox); a ``MigrateServer``
        run is idle while Nova copies, so it is evicted and, at its next
        workflow task, replayed from its history (at most ~40 events). Plan
        workflows wake at every child's end and stay cached (least recently
        used goes first). Measured by ``benchmarks/worker_memory.py``.
        """
        if self.max_cached_workflows is not None:
            return self.max_cached_workflows
        return max(100, self.max_in_flight // 5)

    @property
    def max_concurrent_workflow_tasks(self) -> int:
        """Workflow-task slots: a twentieth of ``max_in_flight``, 10 to 50.

        Workflow tasks are Python run under one GIL: more slots than that do
        not decide faster, they only make each task slower (a task that
        takes over 10 s is timed out by the server and run again).
        """
        return max(10, min(50, self.max_in_flight // 20))

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> WorkerSettings:
        return cls(
            max_in_flight=_positive_int(env, "WATCHER_TEMPORAL_MAX_IN_FLIGHT", DEFAULT_MAX_IN_FLIGHT),
            nova_threads=_positive_int(env, "WATCHER_TEMPORAL_NOVA_THREADS", DEFAULT_NOVA_THREADS),
            shutdown_seconds=float(_positive_int(env, "WATCHER_TEMPORAL_SHUTDOWN_SECONDS", 30)),
            register_search_attributes=_truthy(env.get("WATCHER_TEMPORAL_REGISTER_SEARCH_ATTRIBUTES"), default=True),
            check_nova=_truthy(env.get("WATCHER_TEMPORAL_CHECK_NOVA"), default=True),
            log_level=(env.get("WATCHER_TEMPORAL_LOG_LEVEL") or "INFO").strip().upper(),
            nova_observer=_truthy(env.get("WATCHER_TEMPORAL_NOVA_OBSERVER"), default=True),
            max_cached_workflows=_positive_int(env, "WATCHER_TEMPORAL_MAX_CACHED_WORKFLOWS", None),
            malloc_arenas=None if "MALLOC_ARENA_MAX" in env else DEFAULT_MALLOC_ARENAS,
        )


#: Request headers that carry credentials: never recorded in a span.
SENSITIVE_HEADERS = ("x-auth-token", "x-subject-token", "x-service-token", "authorization", "cookie", "set-cookie")
#: OpenTelemetry's ``requests`` instrumentation reads these itself.
CAPTURE_HEADERS_ENV = (
    "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_CLIENT_REQUEST",
    "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_CLIENT_RESPONSE",
)
SANITIZE_HEADERS_ENV = "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SANITIZE_FIELDS"


def _header_patterns(value: str | None) -> tuple[str, ...]:
    return tuple(p.strip().lower() for p in (value or "").split(",") if p.strip())


def _matches(patterns: Sequence[str], header: str) -> bool:
    # OpenTelemetry matches these case-insensitively as regular expressions.
    return any(re.fullmatch(p, header, re.IGNORECASE) for p in patterns)


@dataclass(frozen=True, kw_only=True)
class TelemetrySettings:
    """Where traces and metrics go.

    Attributes:
        otlp_endpoint: OTLP/HTTP collector (``OTEL_EXPORTER_OTLP_ENDPOINT`` or
            ``..._TRACES_ENDPOINT``); the exporter reads the rest of ``OTEL_*``.
        trace_console: Print spans to stderr.
        metrics_address: ``host:port`` serving Prometheus ``/metrics``.
        captured_headers: Header patterns an operator asked the ``requests``
            instrumentation to record (``OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_CLIENT_*``).
        sanitized_headers: Header patterns it records as ``[REDACTED]``
            (``OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SANITIZE_FIELDS``).
    """

    otlp_endpoint: str | None = None
    trace_console: bool = False
    metrics_address: str | None = None
    captured_headers: tuple[str, ...] = ()
    sanitized_headers: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # A credential header must never reach a span: refuse a capture list
        # that would record one unredacted, rather than change the process's
        # environment behind the operator's back.
        for pattern in (*self.captured_headers, *self.sanitized_headers):
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"{SANITIZE_HEADERS_ENV} or a capture list: bad pattern {pattern!r}: {exc}") from None
        captured, sanitized = self.captured_headers, self.sanitized_headers
        leaked = [h for h in SENSITIVE_HEADERS if _matches(captured, h) and not _matches(sanitized, h)]
        if leaked:
            raise ValueError(
                f"{' / '.join(CAPTURE_HEADERS_ENV)} would record the credential header(s) {', '.join(leaked)}: "
                f"add them to {SANITIZE_HEADERS_ENV} or capture fewer headers"
            )

    @property
    def tracing(self) -> bool:
        """Whether any span exporter is asked for (else tracing stays off, and unloaded)."""
        return bool(self.otlp_endpoint) or self.trace_console

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> TelemetrySettings:
        env = os.environ if env is None else env
        return cls(
            otlp_endpoint=env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"),
            trace_console=_truthy(env.get("WATCHER_TEMPORAL_TRACE_CONSOLE"), default=False),
            metrics_address=(env.get(METRICS_ADDRESS_ENV) or "").strip() or None,
            captured_headers=tuple(p for name in CAPTURE_HEADERS_ENV for p in _header_patterns(env.get(name))),
            sanitized_headers=_header_patterns(env.get(SANITIZE_HEADERS_ENV)),
        )


@dataclass(frozen=True, kw_only=True)
class CliSettings:
    """What the ``watcher-temporal`` CLI reads from its environment besides Temporal's settings.

    Attributes:
        os_cloud: ``OS_CLOUD``: the clouds.yaml entry used to look a server
            up by name (a UUID needs no cloud).
        debug: ``WATCHER_TEMPORAL_DEBUG``: print the traceback of an
            unexpected error.
        columns: ``COLUMNS``: the width of output that does not go to a
            terminal (None: output to a pipe is not cut).
    """

    os_cloud: str | None = None
    debug: bool = False
    columns: int | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> CliSettings:
        env = os.environ if env is None else env
        try:
            columns: int | None = int(env.get("COLUMNS", ""))
        except ValueError:
            columns = None
        return cls(
            os_cloud=(env.get("OS_CLOUD") or "").strip() or None,
            debug=_truthy(env.get("WATCHER_TEMPORAL_DEBUG"), default=False),
            columns=columns if columns and columns > 0 else None,
        )


#: Watcher's configuration file on a worker (the generic path runs Watcher's own action classes).
WATCHER_CONFIG_ENV = "WATCHER_TEMPORAL_WATCHER_CONFIG"


@dataclass(frozen=True, kw_only=True)
class WatcherConfigSettings:
    """Where a worker finds Watcher's configuration (Nova credentials of Watcher's own clients).

    Attributes:
        config_file: Watcher's configuration file (``WATCHER_TEMPORAL_WATCHER_CONFIG``); None: unset.
    """

    config_file: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> WatcherConfigSettings:
        env = os.environ if env is None else env
        return cls(config_file=(env.get(WATCHER_CONFIG_ENV) or "").strip() or None)


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Every setting of a watcher-temporal process, built once by :meth:`from_env`.

    Attributes:
        temporal: Where Temporal is, and the task queue.
        worker: How the worker runs.
        telemetry: Traces and metrics.
        codec: Payload encryption (:mod:`watcher_temporal.codec`): the key
            ring and whether plaintext is refused (keys never shown by repr).
        watcher: Watcher's configuration file, for the generic path.
    """

    temporal: TemporalSettings = field(default_factory=TemporalSettings)
    worker: WorkerSettings = field(default_factory=WorkerSettings)
    telemetry: TelemetrySettings = field(default_factory=TelemetrySettings)
    codec: CodecSettings = field(default_factory=CodecSettings)
    watcher: WatcherConfigSettings = field(default_factory=WatcherConfigSettings)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read every setting; a bad value raises ``ValueError`` naming the variable."""
        env = dict(os.environ if env is None else env)
        return cls(
            temporal=TemporalSettings.from_env(env),
            worker=WorkerSettings.from_env(env),
            telemetry=TelemetrySettings.from_env(env),
            codec=CodecSettings.from_env(env),
            watcher=WatcherConfigSettings.from_env(env),
        )


def data_converter(env: Mapping[str, str] | None = None, *, codec: CodecSettings | None = None) -> DataConverter:
    """The pydantic data converter, encrypting when a codec key ring is configured.

    See :class:`watcher_temporal.codec.CodecSettings` (``WATCHER_TEMPORAL_CODEC_KEY[S]``,
    ``WATCHER_TEMPORAL_CODEC_KEY_FILE``, ``WATCHER_TEMPORAL_REQUIRE_ENCRYPTION``).
    """
    base = dataclasses.replace(pydantic_data_converter, failure_converter_class=OneLineFailureConverter)
    return (codec or CodecSettings.from_env(env)).data_converter(base)


async def connect_client(
    settings: TemporalSettings | None = None,
    *,
    interceptors: Sequence[Interceptor] = (),
    runtime: Runtime | None = None,
    codec: CodecSettings | None = None,
) -> Client:
    """Connect with the data converter every part of the project uses.

    Args:
        settings: Where Temporal is; from the environment by default.
        interceptors: Client (and, through a worker, worker) interceptors.
        runtime: Temporal runtime, e.g. one exporting Prometheus metrics
            (:func:`watcher_temporal.metrics.prometheus_runtime`); workers
            built on this client use it too.
        codec: Payload encryption; from the environment by default.

    Raises:
        TemporalUnreachable: the frontend cannot be reached (one line: the
            address and the cause).
    """
    settings = settings or TemporalSettings.from_env()
    try:
        return await Client.connect(
            **settings.connect,
            data_converter=data_converter(codec=codec),
            interceptors=list(interceptors),
            runtime=runtime,
        )
    except RuntimeError as err:  # the SDK's connect error: refused, TLS, DNS...
        lines = str(err).strip().splitlines()
        raise TemporalUnreachable(settings.address, lines[0][:500] if lines else type(err).__name__) from None

"""OpenTelemetry wiring for the worker, the starters and the CLI.

Tracing is off unless asked for, so a plain ``python worker.py`` exports
nothing:

* ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``)
  turns on OTLP/HTTP export (the ``otlp`` extra), e.g.
  ``http://otel-collector:4318``; the other standard ``OTEL_*`` variables
  (headers, timeout, ``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES``) apply.
* ``WATCHER_TEMPORAL_TRACE_CONSOLE=1`` prints spans to stderr.

One trace covers one migration: Temporal's ``TracingInterceptor`` carries the
starter's context through the workflow (``RunWorkflow:MigrateServer``) to
every activity (``RunActivity:migrate.execute`` ...), and the ``requests``
instrumentation adds one span per HTTP request openstacksdk/keystoneauth
sends (``GET /v2.1/servers/{id}``). Activities call Nova through
``asyncio.to_thread``, which copies the context, so each request span is a
child of its activity's span.

No credential reaches a span: request spans carry method, URL (Nova URLs
hold ids, never tokens; user:password in a URL is redacted) and status; no
header is recorded unless ``OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_*``
asks for it, and :class:`~watcher_temporal.config.TelemetrySettings` refuses
a capture list that would record a credential header (see
:data:`~watcher_temporal.config.SENSITIVE_HEADERS`) unredacted.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from temporalio.contrib.opentelemetry import TracingInterceptor

from watcher_temporal.config import TelemetrySettings
from watcher_temporal.metrics import http_route

_instrument_lock = threading.Lock()
_instrumented = False


def exporters_for(settings: TelemetrySettings) -> list[SpanExporter]:
    """The span exporters the settings ask for (none: tracing off)."""
    exporters: list[SpanExporter] = []
    if settings.otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporters.append(OTLPSpanExporter())
    if settings.trace_console:
        exporters.append(ConsoleSpanExporter(out=sys.stderr))
    return exporters


def build_tracer_provider(
    service_name: str,
    settings: TelemetrySettings | None = None,
    *,
    processors: Sequence[SpanProcessor] = (),
) -> TracerProvider | None:
    """A tracer provider exporting where the environment says, plus ``processors``.

    Returns:
        The provider, or None when neither the environment nor ``processors``
        ask for any export.
    """
    exporters = exporters_for(settings or TelemetrySettings.from_env())
    if not exporters and not processors:
        return None
    resource = Resource.create({"service.name": service_name})
    provider = TracerProvider(resource=resource)
    for exporter in exporters:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    for processor in processors:
        provider.add_span_processor(processor)
    return provider


def configure_tracing(service_name: str, settings: TelemetrySettings | None = None) -> TracerProvider | None:
    """Install a global tracer provider and instrument Nova's HTTP requests.

    Returns:
        The provider (flush it with ``shutdown()`` on exit), or None when no
        exporter was asked for.
    """
    provider = build_tracer_provider(service_name, settings)
    if provider is None:
        return None
    trace.set_tracer_provider(provider)
    instrument_requests(provider)
    return provider


def _span_name(method: str, url: str) -> str:
    """``GET /v2.1/servers/{id}``: low-cardinality, no query string."""
    return f"{method} {http_route(url)}"


def _request_hook(span: Any, request: Any) -> None:
    if span is not None and span.is_recording():
        span.update_name(_span_name(request.method or "HTTP", request.url or ""))


def instrument_requests(provider: trace.TracerProvider | None = None) -> None:
    """Trace every ``requests`` call (openstacksdk/keystoneauth) once per process.

    Which headers get recorded is the instrumentation's own setting, checked
    by :class:`~watcher_temporal.config.TelemetrySettings` (a process builds
    its settings before it traces).

    Args:
        provider: Provider of the spans; the global one by default.
    """
    global _instrumented
    with _instrument_lock:
        if _instrumented:
            return
        from opentelemetry.instrumentation.requests import RequestsInstrumentor

        RequestsInstrumentor().instrument(tracer_provider=provider, request_hook=_request_hook)
        _instrumented = True


def uninstrument_requests() -> None:
    """Undo :func:`instrument_requests` (tests)."""
    global _instrumented
    with _instrument_lock:
        if _instrumented:
            from opentelemetry.instrumentation.requests import RequestsInstrumentor

            RequestsInstrumentor().uninstrument()
            _instrumented = False


def tracing_interceptor(provider: trace.TracerProvider | None = None) -> TracingInterceptor:
    """Temporal interceptor that propagates trace context through workflows.

    Args:
        provider: Provider of the spans; the global one by default.
    """
    tracer = provider.get_tracer("watcher_temporal") if provider is not None else None
    return TracingInterceptor(tracer)

"""OpenTelemetry wiring for the worker and the starters.

Tracing is off unless asked for, so a plain ``python worker.py`` exports
nothing: ``OTEL_EXPORTER_OTLP_ENDPOINT`` turns on OTLP export (needs the
``otlp`` extra) and ``WATCHER_TEMPORAL_TRACE_CONSOLE=1`` prints spans to the
console. Temporal's ``TracingInterceptor`` links the starter's span to the
workflow and to every activity, so one trace covers one migration.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from temporalio.contrib.opentelemetry import TracingInterceptor


def configure_tracing(service_name: str, env: Mapping[str, str] | None = None) -> TracerProvider | None:
    """Install a tracer provider with the exporters the environment asks for.

    Returns:
        The provider (flush it with ``shutdown()`` on exit), or None when no
        exporter was asked for.
    """
    env = os.environ if env is None else env
    exporters: list[SpanExporter] = []
    if env.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporters.append(OTLPSpanExporter())
    if env.get("WATCHER_TEMPORAL_TRACE_CONSOLE", "").lower() in ("1", "true", "yes"):
        exporters.append(ConsoleSpanExporter())
    if not exporters:
        return None
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    for exporter in exporters:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return provider


def tracing_interceptor() -> TracingInterceptor:
    """Temporal interceptor that propagates trace context through workflows."""
    return TracingInterceptor()

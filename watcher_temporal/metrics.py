"""Prometheus metrics: Temporal's SDK metrics and the project's own, on one endpoint.

``WATCHER_TEMPORAL_METRICS_ADDRESS=0.0.0.0:9464`` makes the worker serve
``http://<address>/metrics`` from Temporal's Rust core (the SDK's own metrics:
task latencies, slots, polls, activity and workflow outcomes) through the
runtime built by :func:`prometheus_runtime`. The project's metrics are recorded
through ``workflow.metric_meter()`` so they land on the same endpoint and are
skipped while a workflow replays:

* ``watcher_migrations_total{outcome, migration_type}``: finished
  ``MigrateServer`` workflows; outcome is ``succeeded``, ``skipped``,
  ``reverted``, ``failed`` or ``cancelled``.
* ``watcher_migration_duration_seconds{outcome, migration_type}``: their
  duration (workflow time), a histogram.
* ``watcher_migration_reverts_total{action, migration_type}``: compensations
  run, by the strongest step taken (``nothing_to_do``, ``aborted``,
  ``resize_reverted``, ``migrated_back``).
* ``watcher_migration_aborts_total{migration_type}``: Nova live migrations
  aborted by a compensation.

Workflow code imports this module: no I/O, no clock, nothing but the meter.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from temporalio.common import MetricMeter

if TYPE_CHECKING:
    from temporalio.runtime import Runtime


MIGRATIONS = "watcher_migrations_total"
DURATION = "watcher_migration_duration_seconds"
REVERTS = "watcher_migration_reverts_total"
ABORTS = "watcher_migration_aborts_total"

#: Buckets of the duration histogram: migrations take seconds to hours.
DURATION_BUCKETS: tuple[float, ...] = (1, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200)


def record_migration(meter: MetricMeter, *, outcome: str, migration_type: str, seconds: float) -> None:
    """Count one finished migration and record how long it took."""
    attributes = {"outcome": outcome, "migration_type": migration_type}
    meter.create_counter(MIGRATIONS, "Finished MigrateServer workflows by outcome").add(1, attributes)
    meter.create_histogram_float(DURATION, "Duration of MigrateServer workflows", "s").record(
        max(seconds, 0.0), attributes
    )


def record_revert(meter: MetricMeter, *, action: str, migration_type: str) -> None:
    """Count one compensation (and the abort it did, if any)."""
    meter.create_counter(REVERTS, "Compensations run by MigrateServer").add(
        1, {"action": action, "migration_type": migration_type}
    )
    if action == "aborted":
        meter.create_counter(ABORTS, "Nova migrations aborted by a compensation").add(
            1, {"migration_type": migration_type}
        )


def prometheus_runtime(address: str | None) -> Runtime | None:
    """A Temporal runtime exporting to Prometheus on ``address`` (``host:port``), if one is given.

    Returns:
        The runtime to pass to ``Client.connect(runtime=...)`` (the worker
        uses the client's), or None: the SDK's default runtime, no endpoint.
    """
    if not address:
        return None
    from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

    return Runtime(
        telemetry=TelemetryConfig(
            metrics=PrometheusConfig(
                bind_address=address,
                durations_as_seconds=True,
                histogram_bucket_overrides={DURATION: list(DURATION_BUCKETS)},
            )
        )
    )

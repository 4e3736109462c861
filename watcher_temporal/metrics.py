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
* ``watcher_migration_deadlines_total{deadline, action}``: migrations whose
  deadline fired (``completion``, ``progress``, ``timeout``) and what was done
  (``aborted``, ``force_completed``).
* ``watcher_migration_revert_failures_total{migration_type}``: migrations that
  failed and could not be put back (``RevertFailed``: an operator must look).
* ``watcher_plan_actions_finished_total{plan_type, outcome}``: actions of plans
  (``MaintenancePlan``, ``DrainHost``, ``DrainHosts``) that ended, by
  Watcher's action state (``succeeded``, ``skipped``, ``failed``, ``cancelled``).
* ``watcher_plan_actions_remaining{plan_id}``: actions a running plan has not
  finished yet (0 when it ends): a plan whose value stops moving is stuck.
* ``watcher_nova_requests_total{method, route, code}`` and
  ``watcher_nova_request_duration_seconds{method, route}``: every HTTP request
  the worker sent to Nova or placement (``route`` has ids replaced:
  ``GET /v2.1/servers/{id}``; ``code`` is the status, or ``error`` when no
  answer came).

Counters are created at zero for every known label set when the worker starts
(:func:`initialize`): Prometheus' ``increase()`` cannot see the first event of
a series that is born with it, so an alert on the first RevertFailed would
never fire.

Workflow code imports this module: no I/O, no clock, nothing but the meter.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from temporalio.common import MetricCounter, MetricMeter

if TYPE_CHECKING:
    from temporalio.runtime import Runtime


MIGRATIONS = "watcher_migrations_total"
DURATION = "watcher_migration_duration_seconds"
REVERTS = "watcher_migration_reverts_total"
ABORTS = "watcher_migration_aborts_total"
DEADLINES = "watcher_migration_deadlines_total"
REVERT_FAILURES = "watcher_migration_revert_failures_total"
PLAN_ACTIONS = "watcher_plan_actions_finished_total"
PLAN_REMAINING = "watcher_plan_actions_remaining"
NOVA_REQUESTS = "watcher_nova_requests_total"
NOVA_LATENCY = "watcher_nova_request_duration_seconds"

MIGRATION_TYPES = ("live", "cold")
OUTCOMES = ("succeeded", "skipped", "reverted", "failed", "cancelled")
DEADLINE_KINDS = ("completion", "progress", "timeout")
DEADLINE_ACTIONS = ("aborted", "force_completed")
REVERT_ACTIONS = ("nothing_to_do", "aborted", "resize_reverted", "migrated_back")
PLAN_TYPES = ("MaintenancePlan", "DrainHost", "DrainHosts")
PLAN_OUTCOMES = ("succeeded", "skipped", "failed", "cancelled")

#: Buckets of the duration histogram: migrations take seconds to hours.
DURATION_BUCKETS: tuple[float, ...] = (1, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200)
#: Buckets of the Nova request histogram: milliseconds to a minute.
NOVA_LATENCY_BUCKETS: tuple[float, ...] = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)

_UUID = re.compile(r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}")
_NUMBER = re.compile(r"(?<=/)\d+(?=/|$)")


def http_route(url: str) -> str:
    """``/v2.1/servers/{id}`` of a request URL: low-cardinality, no host, no query string."""
    path = url.split("://", 1)[-1]
    path = "/" + path.split("/", 1)[1] if "/" in path else "/"
    path = path.split("?", 1)[0]
    return _NUMBER.sub("{n}", _UUID.sub("{id}", path))


def initialize(meter: MetricMeter) -> None:
    """Create every counter of the project at zero for its known label sets (see the module doc)."""
    for migration_type in MIGRATION_TYPES:
        for outcome in OUTCOMES:
            _migrations(meter).add(0, {"outcome": outcome, "migration_type": migration_type})
        _revert_failures(meter).add(0, {"migration_type": migration_type})
        for action in REVERT_ACTIONS:
            _reverts(meter).add(0, {"action": action, "migration_type": migration_type})
        _aborts(meter).add(0, {"migration_type": migration_type})
    for deadline in DEADLINE_KINDS:
        for action in DEADLINE_ACTIONS:
            _deadlines(meter).add(0, {"deadline": deadline, "action": action})
    for plan_type in PLAN_TYPES:
        for outcome in PLAN_OUTCOMES:
            _plan_actions(meter).add(0, {"plan_type": plan_type, "outcome": outcome})


def _migrations(meter: MetricMeter) -> MetricCounter:
    return meter.create_counter(MIGRATIONS, "Finished MigrateServer workflows by outcome")


def _reverts(meter: MetricMeter) -> MetricCounter:
    return meter.create_counter(REVERTS, "Compensations run by MigrateServer")


def _aborts(meter: MetricMeter) -> MetricCounter:
    return meter.create_counter(ABORTS, "Nova migrations aborted by a compensation")


def _deadlines(meter: MetricMeter) -> MetricCounter:
    return meter.create_counter(DEADLINES, "Migrations whose deadline fired, by deadline and action")


def _revert_failures(meter: MetricMeter) -> MetricCounter:
    return meter.create_counter(REVERT_FAILURES, "Migrations that failed and could not be put back")


def _plan_actions(meter: MetricMeter) -> MetricCounter:
    return meter.create_counter(PLAN_ACTIONS, "Plan actions that ended, by plan type and outcome")


def record_migration(meter: MetricMeter, *, outcome: str, migration_type: str, seconds: float) -> None:
    """Count one finished migration and record how long it took."""
    attributes = {"outcome": outcome, "migration_type": migration_type}
    _migrations(meter).add(1, attributes)
    meter.create_histogram_float(DURATION, "Duration of MigrateServer workflows", "s").record(
        max(seconds, 0.0), attributes
    )


def record_revert(meter: MetricMeter, *, action: str, migration_type: str) -> None:
    """Count one compensation (and the abort it did, if any)."""
    _reverts(meter).add(1, {"action": action, "migration_type": migration_type})
    if action == "aborted":
        _aborts(meter).add(1, {"migration_type": migration_type})


def record_deadline(meter: MetricMeter, *, deadline: str, action: str) -> None:
    """Count one migration whose deadline fired, and what was done about it."""
    _deadlines(meter).add(1, {"deadline": deadline, "action": action})


def record_revert_failure(meter: MetricMeter, *, migration_type: str) -> None:
    """Count one migration that could not be put back."""
    _revert_failures(meter).add(1, {"migration_type": migration_type})


def record_plan_progress(meter: MetricMeter, *, plan_type: str, plan_id: str, outcome: str, remaining: int) -> None:
    """Count one plan action that ended, and set how many the plan has left."""
    _plan_actions(meter).add(1, {"plan_type": plan_type, "outcome": outcome})
    record_plan_remaining(meter, plan_id=plan_id, remaining=remaining)


def record_plan_remaining(meter: MetricMeter, *, plan_id: str, remaining: int) -> None:
    """Set how many actions a plan has not finished (0 when it ends)."""
    meter.create_gauge(PLAN_REMAINING, "Actions a running plan has not finished yet").set(
        max(remaining, 0), {"plan_id": plan_id}
    )


def record_nova_request(meter: MetricMeter, *, method: str, url: str, code: str, seconds: float) -> None:
    """Count one HTTP request to Nova (or placement) and how long it took."""
    route = http_route(url)
    meter.create_counter(NOVA_REQUESTS, "HTTP requests the worker sent to Nova and placement").add(
        1, {"method": method, "route": route, "code": code}
    )
    meter.create_histogram_float(NOVA_LATENCY, "Duration of HTTP requests to Nova and placement", "s").record(
        max(seconds, 0.0), {"method": method, "route": route}
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
                histogram_bucket_overrides={
                    DURATION: list(DURATION_BUCKETS),
                    NOVA_LATENCY: list(NOVA_LATENCY_BUCKETS),
                },
            )
        )
    )

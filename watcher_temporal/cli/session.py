"""The Temporal client of one command, and the settings it is built from.

Imported only once the command line parsed (it loads Temporal's SDK): the
options themselves live in :mod:`watcher_temporal.cli.options`.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import uuid
from typing import Any

from temporalio.client import Client

from watcher_temporal.cli.exit_codes import CommandError, ExitCode
from watcher_temporal.cli.options import DEFAULT_PLAN_WAIT_TIMEOUT, MIGRATION_WAIT_MARGIN
from watcher_temporal.cli.render import safe
from watcher_temporal.config import TelemetrySettings, TemporalSettings, connect_client
from watcher_temporal.contract import (
    DEFAULT_REVERT_TIMEOUT_SECONDS,
    DEFAULT_TIMEOUT_SECONDS,
    WorkflowType,
    migration_workflow_id,
)
from watcher_temporal.errors import TemporalUnreachable


def wait_timeout(
    args: argparse.Namespace, workflow_type: str | None, *, migration_timeout: float | None = None
) -> float:
    """``--wait-timeout``, or the default for ``workflow_type``."""
    given: float | None = getattr(args, "wait_timeout", None)
    if given is not None:
        return given
    if workflow_type == WorkflowType.MIGRATE_SERVER:
        own = migration_timeout or DEFAULT_TIMEOUT_SECONDS
        return own + DEFAULT_REVERT_TIMEOUT_SECONDS + MIGRATION_WAIT_MARGIN
    return DEFAULT_PLAN_WAIT_TIMEOUT


def settings_from_args(args: argparse.Namespace) -> TemporalSettings:
    """``TemporalSettings.from_env()`` with the command line's overrides."""
    settings = TemporalSettings.from_env()
    connect = dict(settings.connect)
    if getattr(args, "address", None):
        connect["target_host"] = args.address
    if getattr(args, "namespace", None):
        connect["namespace"] = args.namespace
    task_queue = getattr(args, "task_queue", None) or settings.task_queue
    return dataclasses.replace(settings, connect=connect, task_queue=task_queue)


class Session:
    """The client of one command, traced when ``OTEL_*``/console tracing is on.

    OpenTelemetry is imported only when tracing is asked for.
    """

    def __init__(self, args: argparse.Namespace) -> None:
        try:
            self.settings = settings_from_args(args)
        except ValueError as err:
            raise CommandError(ExitCode.USAGE, "TemporalConfigError", safe(err, limit=1000)) from None
        self._provider: Any = None
        if TelemetrySettings.from_env().tracing:
            from watcher_temporal.telemetry import configure_tracing

            self._provider = configure_tracing("watcher-temporal-cli")
        self.client: Client | None = None

    async def __aenter__(self) -> Client:
        interceptors = []
        if self._provider is not None:
            from watcher_temporal.telemetry import tracing_interceptor

            interceptors.append(tracing_interceptor())
        try:
            self.client = await connect_client(self.settings, interceptors=interceptors)
        except TemporalUnreachable as err:
            message = f"cannot reach Temporal at {safe(err.address)} (TEMPORAL_ADDRESS / --address): {safe(err.detail)}"
            raise CommandError(ExitCode.FAILED, "TemporalUnavailable", message) from None
        return self.client

    async def __aexit__(self, *exc: object) -> None:
        # Drop the client (and its Rust core connection) while the loop and the
        # interpreter still run: freed during finalisation, the core's threads
        # call back into a dying interpreter and abort the process.
        self.client = None
        gc.collect()
        if self._provider is not None:
            self._provider.shutdown()


def workflow_id_of(text: str) -> str:
    """A workflow id as given, or ``migrate-<uuid>`` for a server UUID."""
    try:
        return migration_workflow_id(str(uuid.UUID(text)))
    except ValueError:
        return text

"""Options every command shares, and the Temporal client they configure."""

from __future__ import annotations

import argparse
import dataclasses
import gc
import uuid

from temporalio.client import Client

from watcher_temporal.cli.exit_codes import CommandError, ExitCode
from watcher_temporal.cli.render import safe
from watcher_temporal.cli.workers import DEFAULT_WORKER_WAIT
from watcher_temporal.config import TemporalSettings, connect_client
from watcher_temporal.contract import (
    DEFAULT_REVERT_TIMEOUT_SECONDS,
    DEFAULT_TIMEOUT_SECONDS,
    WorkflowType,
    migration_workflow_id,
)
from watcher_temporal.telemetry import configure_tracing, tracing_interceptor

#: Default seconds between two progress polls while following a workflow.
DEFAULT_PROGRESS_INTERVAL = 1.0
#: Default ``--wait-timeout`` of plans and drains.
DEFAULT_PLAN_WAIT_TIMEOUT = 3600.0
#: Added to a migration's own timeout and revert budget for its ``--wait-timeout``.
MIGRATION_WAIT_MARGIN = 300.0


def add_common_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--output``, ``--address``, ``--namespace``, ``--task-queue`` (if absent).

    Every subcommand gets them, including ones other modules register
    (``drain-host``), so ``watcher-temporal CMD ... -o json`` works everywhere.
    """
    known = parser._option_string_actions  # argparse keeps no public registry
    if "--output" not in known:
        parser.add_argument(
            "-o",
            "-f",
            "--output",
            "--format",
            dest="output",
            choices=("text", "json"),
            default="text",
            help="text for people (default), json (one document on stdout) for scripts",
        )
    if "--address" not in known:
        parser.add_argument("--address", help="Temporal frontend host:port (default: TEMPORAL_ADDRESS or profile)")
    if "--namespace" not in known:
        parser.add_argument("--namespace", help="Temporal namespace (default: TEMPORAL_NAMESPACE or profile)")
    if "--task-queue" not in known:
        parser.add_argument("--task-queue", help="task queue of started workflows (default: TEMPORAL_TASK_QUEUE)")


def add_wait_options(parser: argparse.ArgumentParser, what: str) -> None:
    """``--wait``, ``--wait-timeout``, ``--worker-wait``, ``--progress-interval``: following a workflow."""
    parser.add_argument("--wait", action="store_true", help=f"follow {what} with progress until it ends")
    add_deadline_options(parser)
    parser.add_argument(
        "--progress-interval",
        type=float,
        default=DEFAULT_PROGRESS_INTERVAL,
        help="seconds between progress updates with --wait (default %(default)s)",
    )


def add_deadline_options(parser: argparse.ArgumentParser) -> None:
    """``--wait-timeout`` and ``--worker-wait``: how long the CLI may wait, for a result and for a worker."""
    parser.add_argument(
        "--wait-timeout",
        type=_positive_seconds,
        default=None,
        metavar="SECONDS",
        help="give up following after this long, exit 8, the workflow goes on (default: a migration's "
        f"timeout + revert budget + {MIGRATION_WAIT_MARGIN:.0f}s; {DEFAULT_PLAN_WAIT_TIMEOUT:.0f}s for plans)",
    )
    parser.add_argument(
        "--worker-wait",
        type=_seconds,
        default=DEFAULT_WORKER_WAIT,
        metavar="SECONDS",
        help="with no worker polling the task queue, wait this long for one, then exit 7 (default %(default)s)",
    )


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 <= value <= 31 * 86400:
        raise argparse.ArgumentTypeError(f"must be between 0 and {31 * 86400} seconds")
    return value


def _positive_seconds(text: str) -> float:
    value = _seconds(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be more than 0 seconds")
    return value


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
    """The client of one command, traced when ``OTEL_*``/console tracing is on."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.settings = settings_from_args(args)
        self._provider = configure_tracing("watcher-temporal-cli")
        self.client: Client | None = None

    async def __aenter__(self) -> Client:
        interceptors = [tracing_interceptor()] if self._provider is not None else []
        try:
            self.client = await connect_client(self.settings, interceptors=interceptors)
        except RuntimeError as err:  # the SDK's connect error: refused, TLS, DNS...
            target = self.settings.connect.get("target_host", "?")
            detail = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise CommandError(
                ExitCode.FAILED,
                "TemporalUnavailable",
                f"cannot reach Temporal at {safe(target)} (TEMPORAL_ADDRESS / --address): {safe(detail)}",
            ) from None
        return self.client

    async def __aexit__(self, *exc: object) -> None:
        # Drop the client (and its Rust core connection) while the loop and the
        # interpreter still run: freed during finalisation, the core's threads
        # call back into a dying interpreter and abort the process.
        self.client = None
        gc.collect()
        if self._provider is not None:
            self._provider.shutdown()


def add_id_argument(parser: argparse.ArgumentParser) -> None:
    """The ``ID`` positional of commands that act on one workflow."""
    parser.add_argument("id", metavar="ID", help="workflow id, or a server UUID (= migrate-<uuid>)")


def workflow_id_of(text: str) -> str:
    """A workflow id as given, or ``migrate-<uuid>`` for a server UUID."""
    try:
        return migration_workflow_id(str(uuid.UUID(text)))
    except ValueError:
        return text

"""Options every command shares, and the Temporal client they configure."""

from __future__ import annotations

import argparse
import dataclasses
import gc
import uuid

from temporalio.client import Client

from watcher_temporal.config import TemporalSettings, connect_client
from watcher_temporal.contract import migration_workflow_id
from watcher_temporal.telemetry import configure_tracing, tracing_interceptor

#: Default seconds between two progress polls while following a workflow.
DEFAULT_PROGRESS_INTERVAL = 1.0


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
    """``--wait`` and ``--progress-interval``, for commands that can follow a workflow."""
    parser.add_argument("--wait", action="store_true", help=f"follow {what} with progress until it ends")
    parser.add_argument(
        "--progress-interval",
        type=float,
        default=DEFAULT_PROGRESS_INTERVAL,
        help="seconds between progress updates with --wait (default %(default)s)",
    )


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
        self.client = await connect_client(self.settings, interceptors=interceptors)
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

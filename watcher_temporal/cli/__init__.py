"""``watcher-temporal``: start, follow, cancel and find migrations and plans.

Commands (one module each)::

    watcher-temporal migrate SERVER --live|--cold --from HOST [--to HOST] [--wait]
    watcher-temporal drain-host HOST ...          (when watcher_temporal.cli.drain_host exists)
    watcher-temporal status ID [--wait]
    watcher-temporal cancel ID [--wait]
    watcher-temporal list [--server UUID] [--host HOST] [--plan ID] [--running]

Temporal is reached like the ``temporal`` CLI does (``TEMPORAL_ADDRESS``,
``TEMPORAL_NAMESPACE``, TLS/API-key variables, profiles), or ``--address`` /
``--namespace``. Every command takes ``-o json``. Exit codes: see
:class:`watcher_temporal.cli.exit_codes.ExitCode` and :data:`EPILOG`.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib
import sys
from collections.abc import Callable, Coroutine, Sequence
from types import ModuleType
from typing import Any

from watcher_temporal.cli import cancel, list_migrations, migrate, status
from watcher_temporal.cli.exit_codes import ExitCode, UsageError
from watcher_temporal.cli.options import add_common_options
from watcher_temporal.cli.report import fail
from watcher_temporal.codec import CodecKeyError

EPILOG = """\
exit codes:
  0  succeeded (or: request accepted / still running, without --wait)
  1  failed (workflow failed, terminated or timed out; Temporal unreachable)
  2  usage error or invalid input (bad arguments, unknown workflow id)
  3  cancelled
  4  skipped (the server was not on the source host)
  5  reverted (the migration failed and the server was put back)
  6  already running (a migration of this server is in progress)
"""

#: Command modules, in help order; each has ``register(subparsers)`` and ``async run(args) -> int``.
COMMANDS: tuple[ModuleType, ...] = (migrate, status, cancel, list_migrations)
#: Module of ``drain-host``, owned separately; wired in when it is importable.
DRAIN_HOST_MODULE = "watcher_temporal.cli.drain_host"


def _optional_module(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as err:
        if err.name == name:
            return None
        raise


def build_parser() -> argparse.ArgumentParser:
    """The parser of every command; each subparser's ``command_run`` runs it."""
    parser = argparse.ArgumentParser(
        prog="watcher-temporal",
        description="OpenStack Watcher's applier actions as durable Temporal workflows.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    modules = list(COMMANDS)
    drain_host = _optional_module(DRAIN_HOST_MODULE)
    if drain_host is not None:
        modules.insert(1, drain_host)
    for module in modules:
        before = set(subparsers.choices)
        module.register(subparsers)
        for name in set(subparsers.choices) - before:
            sub = subparsers.choices[name]
            sub.epilog = sub.epilog or EPILOG
            sub.formatter_class = argparse.RawDescriptionHelpFormatter
            add_common_options(sub)
            sub.set_defaults(command_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``watcher-temporal`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)  # exits 2 on usage errors
    code = _run(args)
    # Free Temporal's core client now, not during interpreter finalisation,
    # where its threads calling back into Python abort the process.
    gc.collect()
    return code


def _run(args: argparse.Namespace) -> int:
    run: Callable[[argparse.Namespace], Coroutine[Any, Any, int]] = args.command_run
    try:
        return int(asyncio.run(run(args)))
    except UsageError as err:
        return fail(args, ExitCode.USAGE, "UsageError", str(err))
    except CodecKeyError as err:
        return fail(args, ExitCode.FAILED, "CodecKeyError", str(err))
    except KeyboardInterrupt:
        print("\nwatcher-temporal: stopped following; the workflow goes on", file=sys.stderr)
        return ExitCode.INTERRUPTED
    except (RuntimeError, OSError) as err:
        # Temporal unreachable (the SDK raises RuntimeError on connect) and friends.
        return fail(args, ExitCode.FAILED, type(err).__name__, str(err))


if __name__ == "__main__":
    sys.exit(main())

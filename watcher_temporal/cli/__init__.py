"""``watcher-temporal``: start, follow, cancel and find migrations and drains.

Commands (one module each)::

    watcher-temporal migrate SERVER --live|--cold --from HOST [--to HOST] [--wait]
    watcher-temporal drain-host HOST [--dry-run] [--wait] ...
    watcher-temporal status ID [--wait]
    watcher-temporal cancel ID [--wait]
    watcher-temporal list [--server UUID] [--host HOST] [--plan ID] [--outcome X] [--running]

Temporal is reached like the ``temporal`` CLI does (``TEMPORAL_ADDRESS``,
``TEMPORAL_NAMESPACE``, TLS/API-key variables, profiles), or ``--address`` /
``--namespace``. Every command takes ``-o json`` and then writes exactly one
JSON document on stdout, errors and usage errors included. Exit codes: see
:class:`watcher_temporal.cli.exit_codes.ExitCode` and ``EXIT_CODES_HELP``.
No user error ends in a traceback (``WATCHER_TEMPORAL_DEBUG=1`` shows one).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib
import json
import os
import sys
import traceback
from collections.abc import Callable, Coroutine, Sequence
from types import ModuleType
from typing import Any, NoReturn

from temporalio.service import RPCError, RPCStatusCode

from watcher_temporal.cli import cancel, list_migrations, migrate, status
from watcher_temporal.cli.exit_codes import EXIT_CODES_HELP, CommandError, ExitCode, UsageError
from watcher_temporal.cli.options import add_common_options
from watcher_temporal.cli.render import safe
from watcher_temporal.cli.report import fail
from watcher_temporal.codec import CodecKeyError

EPILOG = EXIT_CODES_HELP

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


class Parser(argparse.ArgumentParser):
    """argparse, whose usage errors honour ``-o json`` (one JSON document on stdout) and exit 2."""

    #: Set by :func:`main` when the command line asks for JSON.
    json_output = False

    def error(self, message: str) -> NoReturn:
        if Parser.json_output:
            doc = {
                "outcome": "UsageError",
                "exit_code": int(ExitCode.USAGE),
                "error": {"type": "UsageError", "message": message},
            }
            json.dump(doc, sys.stdout)
            sys.stdout.write("\n")
            sys.stdout.flush()
        self.print_usage(sys.stderr)
        self.exit(ExitCode.USAGE, f"{self.prog}: error: {safe(message, limit=1000)}\n")


def wants_json(argv: Sequence[str]) -> bool:
    """Whether ``argv`` asks for ``-o json`` (looked at before parsing, for usage errors)."""
    for i, arg in enumerate(argv):
        if arg in ("-o", "-f", "--output", "--format") and i + 1 < len(argv) and argv[i + 1] == "json":
            return True
        if arg in ("-ojson", "-fjson", "--output=json", "--format=json"):
            return True
    return False


def build_parser() -> argparse.ArgumentParser:
    """The parser of every command; each subparser's ``command_run`` runs it."""
    parser = Parser(
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
    argv = list(sys.argv[1:] if argv is None else argv)
    Parser.json_output = wants_json(argv)
    parser = build_parser()
    args = parser.parse_args(argv)  # exits 2 on usage errors (JSON too with -o json)
    return run_command(args)


def run_command(args: argparse.Namespace) -> int:
    """Run the parsed command; every error a user can cause becomes one line and an exit code."""
    code = _run(args)
    # Free Temporal's core client now, not during interpreter finalisation,
    # where its threads calling back into Python abort the process.
    gc.collect()
    return code


def _run(args: argparse.Namespace) -> int:
    run: Callable[[argparse.Namespace], Coroutine[Any, Any, int]] = args.command_run
    try:
        return int(asyncio.run(run(args)))
    except CommandError as err:
        return fail(args, err.code, err.kind, err.message)
    except UsageError as err:
        return fail(args, ExitCode.USAGE, "UsageError", str(err))
    except CodecKeyError as err:
        return fail(args, ExitCode.FAILED, "CodecKeyError", f"payload codec: {err}")
    except KeyboardInterrupt:
        print("\nwatcher-temporal: stopped following; the workflow goes on", file=sys.stderr)
        return ExitCode.INTERRUPTED
    except RPCError as err:
        return fail(args, *_rpc_error(err))
    except (RuntimeError, OSError) as err:
        # Temporal unreachable (the SDK raises RuntimeError on connect) and friends.
        return fail(args, ExitCode.FAILED, type(err).__name__, _first_line(err))
    except Exception as err:  # noqa: BLE001 - the contract: no traceback for anything a user meets
        if os.environ.get("WATCHER_TEMPORAL_DEBUG"):
            traceback.print_exc()
        hint = " (WATCHER_TEMPORAL_DEBUG=1 shows the traceback)"
        return fail(args, ExitCode.FAILED, type(err).__name__, _first_line(err) + hint)


def _first_line(err: BaseException) -> str:
    lines = str(err).strip().splitlines()
    return lines[0] if lines else type(err).__name__


def _rpc_error(err: RPCError) -> tuple[ExitCode, str, str]:
    """Exit code, error type and message of a refusal by Temporal."""
    message = _first_line(err)
    if err.status == RPCStatusCode.INVALID_ARGUMENT:
        return ExitCode.USAGE, "InvalidArgument", f"Temporal refused the request: {message}"
    if err.status == RPCStatusCode.NOT_FOUND:
        return ExitCode.USAGE, "NotFound", f"Temporal knows no such thing: {message}"
    if err.status == RPCStatusCode.RESOURCE_EXHAUSTED:
        return ExitCode.FAILED, "ResourceExhausted", f"Temporal refused the request as too large or too many: {message}"
    if err.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED):
        return ExitCode.FAILED, "TemporalUnavailable", f"cannot reach Temporal: {message}"
    return ExitCode.FAILED, f"RPCError.{err.status.name}", message


if __name__ == "__main__":
    sys.exit(main())

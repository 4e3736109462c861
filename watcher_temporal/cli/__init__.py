"""``watcher-temporal``: start, follow, cancel and find migrations and drains.

Commands (one module each)::

    watcher-temporal migrate SERVER --live|--cold --from HOST [--to HOST] [--wait]
    watcher-temporal drain-host HOST [--dry-run] [--wait] ...
    watcher-temporal undrain-host HOST [--move-back] [--wait] ...
    watcher-temporal status ID [--wait]
    watcher-temporal cancel ID [--wait]
    watcher-temporal force-complete SERVER [--wait]
    watcher-temporal set-limits ID [--max-parallel N] [--max-parallel-per-source N] ...
    watcher-temporal list [--server UUID] [--host HOST] [--plan ID] [--outcome X] [--running]
    watcher-temporal timeline PLAN --html FILE

Temporal is reached like the ``temporal`` CLI does (``TEMPORAL_ADDRESS``,
``TEMPORAL_NAMESPACE``, TLS/API-key variables, profiles), or ``--address`` /
``--namespace``. Every command takes ``-o json`` and then writes exactly one
JSON document on stdout, errors and usage errors included. Exit codes: see
:class:`watcher_temporal.cli.exit_codes.ExitCode`.
No user error ends in a traceback (``WATCHER_TEMPORAL_DEBUG=1`` shows one).

Parsing the command line loads argparse and the command modules only; a
command's ``run`` imports Temporal's SDK (and openstacksdk, only to look a
server up by name) when it runs, so ``--help`` and usage errors are quick.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import NoReturn

from watcher_temporal.cli import (
    cancel,
    drain_host,
    drain_hosts,
    force_complete,
    list_migrations,
    migrate,
    set_limits,
    status,
    timeline,
    undrain_host,
)
from watcher_temporal.cli.exit_codes import EXIT_CODES_HELP, ExitCode, exit_codes_help
from watcher_temporal.cli.options import add_common_options
from watcher_temporal.untrusted import one_line

#: Command modules, in help order; each has ``register(subparsers)``, ``EXIT_CODES`` and ``async run(args) -> int``.
COMMANDS: tuple[ModuleType, ...] = (
    migrate,
    drain_host,
    drain_hosts,
    undrain_host,
    status,
    cancel,
    force_complete,
    set_limits,
    list_migrations,
    timeline,
)


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
        self.exit(ExitCode.USAGE, f"{self.prog}: error: {one_line(message, limit=1000)}\n")


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
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMANDS:
        before = set(subparsers.choices)
        module.register(subparsers)
        for name in set(subparsers.choices) - before:
            sub = subparsers.choices[name]
            sub.epilog = exit_codes_help(module.EXIT_CODES)
            add_common_options(sub)
            sub.set_defaults(command_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``watcher-temporal`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    Parser.json_output = wants_json(argv)
    parser = build_parser()
    args = parser.parse_args(argv)  # exits 2 on usage errors (JSON too with -o json)
    from watcher_temporal.cli.runner import run_command  # Temporal's SDK: only once there is work to do

    return run_command(args)


def console_main() -> NoReturn:
    """The ``watcher-temporal`` console script: :func:`main`, then exit without racing Temporal's core threads."""
    from watcher_temporal.process_exit import exit_process

    try:
        code = main()
    except SystemExit as done:  # argparse's usage errors and --help
        code = done.code if isinstance(done.code, int) else 2 if done.code else 0
    except BrokenPipeError:  # --help | head
        code = ExitCode.BROKEN_PIPE
    exit_process(code)


if __name__ == "__main__":
    sys.exit(main())

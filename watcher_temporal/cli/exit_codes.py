"""Exit codes of ``watcher-temporal``: what a script needs to branch on."""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    """How a command (or the workflow it waited for) ended.

    ``status`` of a running workflow and ``migrate``/``cancel`` without
    ``--wait`` exit 0 once the request was accepted.
    """

    SUCCESS = 0
    FAILED = 1
    USAGE = 2
    CANCELLED = 3
    SKIPPED = 4
    REVERTED = 5
    ALREADY_RUNNING = 6
    #: No worker polls the workflow's task queue (``--wait`` / ``--dry-run`` give up at once).
    NO_WORKER = 7
    #: ``--wait-timeout`` passed while the workflow still runs (it goes on).
    WAIT_TIMEOUT = 8
    #: The migration was skipped because Nova knows no server with that UUID.
    NO_SUCH_SERVER = 9
    #: Ctrl-C while following: the workflow goes on without us.
    INTERRUPTED = 130
    #: stdout was closed before everything was written (``| head``); as if killed by SIGPIPE.
    BROKEN_PIPE = 141


#: What each exit code means (``watcher-temporal --help`` prints them all; docs/cli.md repeats them).
MEANINGS = {
    ExitCode.SUCCESS: "succeeded (or: request accepted / still running, without --wait; dry run)",
    ExitCode.FAILED: "failed (workflow failed, terminated or timed out; Temporal unreachable)",
    ExitCode.USAGE: "usage error or invalid input (bad arguments or --query, unknown id)",
    ExitCode.CANCELLED: "cancelled",
    ExitCode.SKIPPED: "skipped: the server is not on the source host",
    ExitCode.REVERTED: "reverted (the migration failed and the server was put back)",
    ExitCode.ALREADY_RUNNING: "already running (a migration of this server / drain of this host)",
    ExitCode.NO_WORKER: "no worker polls the workflow's task queue (--wait, --dry-run, updates)",
    ExitCode.WAIT_TIMEOUT: "--wait-timeout passed; the workflow still runs",
    ExitCode.NO_SUCH_SERVER: "skipped: Nova knows no server with that UUID",
    ExitCode.INTERRUPTED: "interrupted (Ctrl-C while following; the workflow goes on)",
    ExitCode.BROKEN_PIPE: "stdout closed early (e.g. | head): output cut, no traceback",
}


def exit_codes_help(codes: tuple[int, ...] | None = None) -> str:
    """The exit-code table of ``--help``: every code, or only ``codes`` (one line for a subcommand)."""
    if codes is None:
        return "exit codes:\n" + "".join(f"  {int(c):<3} {text}\n" for c, text in MEANINGS.items())
    names = ", ".join(f"{c} {ExitCode(c).name.lower().replace('_', ' ')}" for c in codes)
    return f"exit codes: {names} (details: watcher-temporal --help)"


#: The table the top-level ``--help`` ends with.
EXIT_CODES_HELP = exit_codes_help()


class UsageError(Exception):
    """Bad arguments or an id that names nothing; exits with ``USAGE``."""


class CommandError(Exception):
    """A user-facing failure with its exit code and error type; no traceback.

    Args:
        code: The exit code.
        kind: The ``error.type`` of the ``-o json`` document.
        message: One line for people.
    """

    def __init__(self, code: ExitCode, kind: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.kind = kind
        self.message = message

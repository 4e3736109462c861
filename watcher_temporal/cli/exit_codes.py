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
    #: No worker polls the task queue (``--wait`` / ``--dry-run`` give up at once).
    NO_WORKER = 7
    #: ``--wait-timeout`` passed while the workflow still runs (it goes on).
    WAIT_TIMEOUT = 8
    #: Ctrl-C while following: the workflow goes on without us.
    INTERRUPTED = 130


#: The table every ``--help`` ends with (docs/cli.md repeats it).
EXIT_CODES_HELP = """\
exit codes:
  0  succeeded (or: request accepted / still running, without --wait; dry run)
  1  failed (workflow failed, terminated or timed out; Temporal unreachable)
  2  usage error or invalid input (bad arguments or --query, unknown id)
  3  cancelled
  4  skipped (the server was not on the source host)
  5  reverted (the migration failed and the server was put back)
  6  already running (a migration of this server / drain of this host)
  7  no worker polls the task queue (--wait, --dry-run)
  8  --wait-timeout passed; the workflow still runs
  130 interrupted (Ctrl-C while following; the workflow goes on)
"""


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

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
    #: Ctrl-C while following: the workflow goes on without us.
    INTERRUPTED = 130


class UsageError(Exception):
    """Bad arguments or an id that names nothing; exits with ``USAGE``."""

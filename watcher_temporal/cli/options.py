"""The command line's options: argparse only, so ``--help`` and usage errors load nothing heavy.

Nothing here imports Temporal, pydantic or openstacksdk: every command
registers its options from this module, and the code that runs a command
(:mod:`watcher_temporal.cli.session` and the rest) is imported only once
the command line parsed. The few contract values the help text shows are
mirrored here; ``tests/watcher_temporal/test_first_hour.py`` checks that
they equal :mod:`watcher_temporal.contract`'s.
"""

from __future__ import annotations

import argparse

#: Default seconds ``--wait`` / ``--dry-run`` wait for a worker to appear before giving up.
DEFAULT_WORKER_WAIT = 5.0
#: Default seconds between two progress polls while following a workflow.
DEFAULT_PROGRESS_INTERVAL = 1.0
#: Default ``--wait-timeout`` of plans and drains.
DEFAULT_PLAN_WAIT_TIMEOUT = 3600.0
#: Added to a migration's own timeout and revert budget for its ``--wait-timeout``.
MIGRATION_WAIT_MARGIN = 300.0

# Mirrors of the contract (checked by a test), for help text and choices.
#: ``OnFailure`` values, in the order the help explains them.
ON_FAILURE_CHOICES = ("continue", "stop", "rollback", "watcher")
#: ``MAX_PARALLEL_LIMIT``.
MAX_PARALLEL_LIMIT = 1000
#: ``DEFAULT_MAX_PARALLEL_PER_SOURCE``.
DEFAULT_MAX_PARALLEL_PER_SOURCE = 1
#: ``MAX_FORCE_COMPLETES``.
MAX_FORCE_COMPLETES = 3

ON_FAILURE_HELP = (
    "after a failed action: continue (run what does not depend on it), stop (default: start nothing new), "
    "rollback (stop, then revert what was done) or watcher (Watcher's own: keep going, children included)"
)


def add_common_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--output``, ``--address``, ``--namespace``, ``--task-queue`` (if absent).

    Every subcommand gets them, so ``watcher-temporal CMD ... -o json`` works everywhere.
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
        parser.add_argument(
            "--task-queue", help="task queue of started workflows (default: TEMPORAL_TASK_QUEUE, else watcher-actions)"
        )


def add_wait_options(parser: argparse.ArgumentParser, what: str) -> None:
    """``--wait``, ``--wait-timeout``, ``--worker-wait``, ``--progress-interval``: following a workflow."""
    parser.add_argument("--wait", action="store_true", help=f"follow {what} with progress until it ends")
    add_deadline_options(parser)
    parser.add_argument(
        "--progress-interval",
        type=_positive_seconds,
        default=DEFAULT_PROGRESS_INTERVAL,
        metavar="SECONDS",
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
    add_worker_wait_option(parser)


def add_worker_wait_option(parser: argparse.ArgumentParser) -> None:
    """``--worker-wait``: how long a command that needs a worker waits for one."""
    parser.add_argument(
        "--worker-wait",
        type=_seconds,
        default=DEFAULT_WORKER_WAIT,
        metavar="SECONDS",
        help="with no worker polling the workflow's task queue, wait this long for one, then exit 7 "
        "(default %(default)s)",
    )


def add_id_argument(parser: argparse.ArgumentParser) -> None:
    """The ``ID`` positional of commands that act on one workflow."""
    parser.add_argument("id", metavar="ID", help="workflow id, or a server UUID (= migrate-<uuid>)")


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


def plain(text: str) -> str:
    """A docstring paragraph as help text: RST's double backticks become plain quotes."""
    return text.replace("``", "'")

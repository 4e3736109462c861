"""The error taxonomy of watcher-temporal.

Every error an activity or workflow raises on purpose is one of these. Each is
a Temporal ``ApplicationError`` whose ``type`` is the class name, so it keeps
its identity across the worker → server → workflow/client boundary, and whose
``non_retryable`` flag encodes the retry decision once, here::

    ApplicationError (temporalio)
    └── WatcherTemporalError
        ├── InvalidInput ............ non-retryable  workflow input broke a rule;
        │                                            names every bad field
        ├── PreconditionFailed ...... non-retryable  Watcher's pre_condition FAILED
        │                                            (bad/disabled/down destination,
        │                                            live migration of a non-ACTIVE
        │                                            server, task in progress, old
        │                                            microversion)
        ├── MigrationFailed ......... non-retryable  Nova ran the migration and it
        │   │                                        failed (migration error/failed,
        │   │                                        server ERROR, server left on the
        │   │                                        source, wrong end state)
        │   └── MigrationTimedOut ... non-retryable  the deadline passed while Nova
        │                                            was still migrating
        ├── RevertFailed ............ non-retryable  the compensation could not put
        │                                            the server back
        └── NovaUnavailable ......... retryable      5xx, dropped connection, timeout:
            └── NovaBusy ............ retryable      409 while Nova has a task running

    MigrationAlreadyRunning (client side, not an ApplicationError)
        a starter found ``migrate-<server uuid>`` already running.

The non-retryable ones end the activity at once; the workflow then decides
(revert, skip, fail). The retryable ones are retried by the activity's retry
policy with back-off. Messages never carry credentials: they are built from
server ids, host names and Nova's own fault text.
"""

from __future__ import annotations

from typing import Any, ClassVar

from temporalio.exceptions import ApplicationError


class WatcherTemporalError(ApplicationError):
    """Base of every deliberate error; ``type`` is the class name."""

    retryable: ClassVar[bool] = False

    def __init__(self, message: str, *details: Any) -> None:
        super().__init__(
            message,
            *details,
            type=type(self).__name__,
            non_retryable=not self.retryable,
        )


class InvalidInput(WatcherTemporalError):
    """The workflow input broke a rule; details list ``{field, rule}`` items."""


class PreconditionFailed(WatcherTemporalError):
    """A precondition Watcher would mark FAILED does not hold."""


class MigrationFailed(WatcherTemporalError):
    """Nova ran the migration and it did not end where it should."""


class MigrationTimedOut(MigrationFailed):
    """The migration's deadline passed while Nova was still working."""


class RevertFailed(WatcherTemporalError):
    """The compensation could not put the server back on its source."""


class NovaUnavailable(WatcherTemporalError):
    """Nova could not be reached or answered 5xx; retried."""

    retryable = True


class NovaBusy(NovaUnavailable):
    """Nova answered 409 (a task is running on the server); retried."""


#: Error types no retry policy should retry, for ``non_retryable_error_types``.
NON_RETRYABLE_ERROR_TYPES: tuple[str, ...] = (
    InvalidInput.__name__,
    PreconditionFailed.__name__,
    MigrationFailed.__name__,
    MigrationTimedOut.__name__,
    RevertFailed.__name__,
)


class MigrationAlreadyRunning(Exception):
    """A migration workflow for this server is already running.

    Attributes:
        workflow_id: The ``migrate-<server uuid>`` id that is taken.
        run_id: The run that holds it, when known.
    """

    def __init__(self, workflow_id: str, run_id: str | None = None) -> None:
        self.workflow_id = workflow_id
        self.run_id = run_id
        run = f" (run {run_id})" if run_id else ""
        super().__init__(
            f"a migration of this server is already running as workflow {workflow_id}{run}; "
            f"follow it with `temporal workflow describe -w {workflow_id}` or cancel it first"
        )

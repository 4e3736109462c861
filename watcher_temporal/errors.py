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
        │   ├── MigrationTimedOut ... non-retryable  the deadline passed while Nova
        │   │                                        was still migrating
        │   └── NovaRefused ......... non-retryable  Nova refused a request for the
        │                                            server's current state (400)
        ├── RevertFailed ............ non-retryable  the compensation could not put
        │                                            the server back
        ├── NovaAuthFailed .......... non-retryable  401/unknown cloud/bad clouds.yaml:
        │                                            the worker's Nova credentials or
        │                                            configuration must be fixed
        ├── ActionFailed ............ non-retryable  an activity or child ended in a
        │                                            way the taxonomy does not name
        │                                            (timeout, unexpected error)
        └── NovaUnavailable ......... retryable      5xx, dropped connection, timeout:
            └── NovaBusy ............ retryable      409 while Nova has a task running

    MigrationAlreadyRunning (client side, not an ApplicationError)
        a starter found ``migrate-<server uuid>`` already running.
    TemporalUnreachable (client side, a RuntimeError like the SDK's own)
        the Temporal frontend could not be reached (address, TLS, DNS).

The non-retryable ones end the activity at once; the workflow then decides
(revert, skip, fail). The retryable ones are retried by the activity's retry
policy with back-off, within a time budget. Messages never carry credentials:
they are built from server ids, host names and Nova's own fault text, and are
bounded in size (:data:`MAX_MESSAGE_CHARS`).

Workflow code turns an activity's or a child's failure back into this
taxonomy with :func:`from_failure`, and describes any failure in one line
with :func:`describe_failure`; :data:`NON_RETRYABLE_ERROR_TYPES` is derived
from the classes below, never kept by hand.
"""

from __future__ import annotations

from typing import Any, ClassVar

from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    ChildWorkflowError,
    TimeoutError,
    is_cancelled_exception,
)

#: Longest error message kept (Temporal refuses failures over its size limit,
#: and one line of cause is what an operator needs).
MAX_MESSAGE_CHARS = 2000
#: Most ``{field, rule}`` problems carried by one ``InvalidInput``.
MAX_PROBLEMS = 50


class WatcherTemporalError(ApplicationError):
    """Base of every deliberate error; ``type`` is the class name."""

    retryable: ClassVar[bool] = False

    def __init__(self, message: str, *details: Any) -> None:
        if len(message) > MAX_MESSAGE_CHARS:
            message = message[: MAX_MESSAGE_CHARS - 1] + "…"
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


class NovaRefused(MigrationFailed):
    """Nova refused a request for the server's current state (400); look again before acting."""


class RevertFailed(WatcherTemporalError):
    """The compensation could not put the server back on its source."""


class NovaAuthFailed(WatcherTemporalError):
    """Nova refused the worker's credentials, or its cloud configuration is wrong; never retried."""


class ActionFailed(WatcherTemporalError):
    """An activity or child workflow ended in a way the taxonomy does not name."""


class NovaUnavailable(WatcherTemporalError):
    """Nova could not be reached or answered 5xx; retried."""

    retryable = True


class NovaBusy(NovaUnavailable):
    """Nova answered 409 (a task is running on the server); retried."""


def _taxonomy() -> dict[str, type[WatcherTemporalError]]:
    classes: dict[str, type[WatcherTemporalError]] = {}
    todo: list[type[WatcherTemporalError]] = [WatcherTemporalError]
    while todo:
        cls = todo.pop()
        classes[cls.__name__] = cls
        todo.extend(cls.__subclasses__())
    return classes


#: Every error type of the taxonomy by name (the failure ``type`` on the wire).
ERROR_TYPES: dict[str, type[WatcherTemporalError]] = _taxonomy()
#: Error types no retry policy should retry, for ``non_retryable_error_types``.
NON_RETRYABLE_ERROR_TYPES: tuple[str, ...] = tuple(
    sorted(name for name, cls in ERROR_TYPES.items() if not cls.retryable and cls is not WatcherTemporalError)
)


def bounded_problems(problems: list[dict[str, str]]) -> list[dict[str, str]]:
    """At most :data:`MAX_PROBLEMS` problems, the last one saying how many were left out."""
    if len(problems) <= MAX_PROBLEMS:
        return problems
    kept = problems[: MAX_PROBLEMS - 1]
    more = dict.fromkeys(kept[0], "(more)") | {"rule": f"{len(problems) - len(kept)} more problems not shown"}
    return [*kept, more]


def describe_failure(err: BaseException) -> str:
    """One line naming what failed: ``<activity or workflow> failed: <Type>: <message>``."""
    if is_cancelled_exception(err) and not isinstance(err, ChildWorkflowError | ActivityError):
        return "cancelled"
    if isinstance(err, ActivityError | ChildWorkflowError):
        what = err.activity_type if isinstance(err, ActivityError) else err.workflow_type
        cause = err.cause
        if isinstance(cause, ApplicationError):
            return f"{what} failed: {cause.type or 'error'}: {cause.message}"
        if isinstance(cause, TimeoutError):
            last = cause.cause  # the last attempt's failure, when it failed before the timeout
            after = (
                f"; last attempt: {last.type or 'error'}: {last.message}" if isinstance(last, ApplicationError) else ""
            )
            return f"{what} timed out ({cause.type.name if cause.type else 'timeout'}){after}"
        if is_cancelled_exception(err):
            return f"{what} cancelled"
        return f"{what} failed: {cause or err}"
    if isinstance(err, ApplicationError):
        return f"{err.type or 'error'}: {err.message}"
    return f"{type(err).__name__}: {err}"


def from_failure(err: BaseException) -> WatcherTemporalError:
    """The taxonomy error behind an activity's or child workflow's failure.

    A failure whose cause is one of ours comes back as the same type with the
    same message and details (so a workflow fails with ``PreconditionFailed``,
    not with a wrapper); anything else becomes :class:`ActionFailed` with
    :func:`describe_failure`'s line.
    """
    cause = err.cause if isinstance(err, ActivityError | ChildWorkflowError) else err
    if isinstance(cause, WatcherTemporalError):
        return cause
    if isinstance(cause, ApplicationError) and cause.type in ERROR_TYPES:
        return ERROR_TYPES[cause.type](cause.message, *cause.details)
    return ActionFailed(describe_failure(err))


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


def refused_update(why: str) -> InvalidInput:
    """An update refused for the workflow's state: non-retryable like every refusal (updates are never retried)."""
    return InvalidInput(f"update refused: {why}", [{"field": "(update)", "rule": why}])


class TemporalUnreachable(RuntimeError):
    """The Temporal frontend could not be reached; the message names the address and the cause.

    Attributes:
        address: The ``host:port`` that was tried.
        detail: The first line of the SDK's error.
    """

    def __init__(self, address: str, detail: str) -> None:
        self.address = address
        self.detail = detail
        super().__init__(f"cannot reach Temporal at {address}: {detail}")

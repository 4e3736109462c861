"""How failures travel and are logged: one line of cause, not stack traces.

Errors of the taxonomy (:mod:`watcher_temporal.errors`) are deliberate: their
message already says what failed and why. :class:`OneLineFailureConverter`
sends them across the wire without a stack trace and without the chain of
lower-level causes (openstacksdk exceptions repeat URLs and bodies), so a
failure stays small (Temporal refuses failures over its size limit) and the
Web UI shows the line that matters. Unexpected exceptions (bugs) keep a
bounded stack trace.

:class:`OneLineActivityFailureLog` does the same for the worker's log: the SDK
logs every failed activity attempt with its traceback; for a taxonomy error
that is one line instead of 5 kB per attempt.
"""

from __future__ import annotations

import logging

import temporalio.api.failure.v1
from temporalio.converter import DefaultFailureConverter, PayloadConverter

from watcher_temporal.errors import WatcherTemporalError

#: Longest stack trace kept for an unexpected exception (its innermost frames).
MAX_STACK_TRACE_CHARS = 4000


class OneLineFailureConverter(DefaultFailureConverter):
    """Taxonomy errors travel as type + one message; other stack traces are bounded."""

    def to_failure(
        self,
        exception: BaseException,
        payload_converter: PayloadConverter,
        failure: temporalio.api.failure.v1.Failure,
    ) -> None:
        super().to_failure(exception, payload_converter, failure)
        if isinstance(exception, WatcherTemporalError):
            failure.stack_trace = ""
            failure.ClearField("cause")
        elif len(failure.stack_trace) > MAX_STACK_TRACE_CHARS:
            failure.stack_trace = "…" + failure.stack_trace[-MAX_STACK_TRACE_CHARS:]


class OneLineActivityFailureLog(logging.Filter):
    """Turn the SDK's "Completing activity as failed" traceback into one line for taxonomy errors."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, WatcherTemporalError):
            record.msg = f"{record.msg}: {exc.type}: {exc.message}"
            record.exc_info = None
            record.exc_text = None
        return True


def install_activity_failure_log() -> None:
    """Install :class:`OneLineActivityFailureLog` on the SDK's activity logger."""
    logging.getLogger("temporalio.activity").addFilter(OneLineActivityFailureLog())

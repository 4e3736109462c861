"""One line for the plan's ``status_message``: why the engine could not run or follow a plan.

Watcher's handler writes no text when an engine raises; the engine writes the
cause itself, bounded, on one line (:func:`~watcher_temporal.untrusted.one_line`),
with where it looked (address, namespace, task queue) and never a secret (the
API key and codec key are never part of an exception's text here).

Plain Python: unit-testable without python-watcher.
"""

from __future__ import annotations

from dataclasses import dataclass

from temporalio.service import RPCError

from watcher_temporal.errors import InvalidInput
from watcher_temporal.untrusted import one_line

#: Width of Watcher's ``status_message`` columns (``VARCHAR(255)`` on audits, action plans and
#: actions): PostgreSQL and MySQL refuse a longer value, so nothing longer is ever written.
STATUS_MESSAGE_COLUMN = 255
#: Longest cause written: with ``one_line``'s truncation note it still fits the column.
MAX_CAUSE = 230
#: Prefix of every cause, so that an operator knows which part of Watcher speaks.
PREFIX = "temporal engine: "


@dataclass(frozen=True, kw_only=True)
class Target:
    """Where the engine looks for a plan's workflow (from its options; no secret)."""

    address: str
    namespace: str
    task_queue: str


def bounded(text: str) -> str:
    """``text`` as one line of at most :data:`MAX_CAUSE` characters, prefixed."""
    return one_line(PREFIX + " ".join(text.split()), limit=MAX_CAUSE)


def cause_of(err: BaseException, target: Target) -> str:
    """The plan's status message for an exception raised while starting or following its workflow."""
    where = f"Temporal at {target.address} (namespace {target.namespace!r})"
    if isinstance(err, InvalidInput):
        text = f"the plan cannot run: {err.message}"
    elif isinstance(err, RPCError):
        text = f"{where} refused the request: {err.message} ({err.status.name})"
    elif isinstance(err, TimeoutError):
        text = f"{where} did not answer in time"
    elif isinstance(err, RuntimeError) and "client connect" in str(err).lower():
        text = f"cannot connect to {where}: {_connect_reason(str(err))}"
    elif isinstance(err, ValueError):  # options (files, keys), already naming the option
        text = f"bad configuration: {err}"
    else:
        text = f"{type(err).__name__}: {err}"
    return bounded(text)


def _connect_reason(text: str) -> str:
    """The core of the SDK's ``Failed client connect: Server connection error: tonic::...`` text."""
    for marker in ("Connection refused", "dns error", "InvalidCertificate", "deadline has elapsed", "timed out"):
        if marker.lower() in text.lower():
            return marker
    return text.split(": ", 1)[-1]

"""The plan's one-line causes and the no-worker deadline (plain Python, no Temporal, no Watcher)."""

from __future__ import annotations

import pytest
from temporalio.service import RPCError, RPCStatusCode

from watcher_temporal.errors import InvalidInput
from watcher_temporal.watcher_engine import pollers
from watcher_temporal.watcher_engine.causes import MAX_CAUSE, Target, cause_of

TARGET = Target(address="temporal.example:7233", namespace="watcher", task_queue="q")
CONNECT = (
    'Failed client connect: Server connection error: tonic::transport::Error(Transport, ConnectError(ConnectError("tcp '
    'connect error", 127.0.0.1:7299, Os { code: 111, kind: ConnectionRefused, message: "Connection refused" })))'
)


@pytest.mark.parametrize(
    ("err", "expected"),
    [
        (
            RuntimeError(CONNECT),
            "cannot connect to Temporal at temporal.example:7233 (namespace 'watcher'): Connection refused",
        ),
        (
            RPCError("Namespace nope is not found.", RPCStatusCode.NOT_FOUND, b""),
            "refused the request: Namespace nope is not found. (NOT_FOUND)",
        ),
        (TimeoutError(), "Temporal at temporal.example:7233 (namespace 'watcher') did not answer in time"),
        (ValueError("[g] api_key_file: cannot read /x: No such file"), "bad configuration: [g] api_key_file"),
        (InvalidInput("m: input_parameters.resource_id: not a UUID"), "the plan cannot run: m: input_parameters"),
    ],
)
def test_each_cause_is_one_bounded_line_saying_where(err: BaseException, expected: str) -> None:
    cause = cause_of(err, TARGET)
    assert cause.startswith("temporal engine: ") and expected in cause
    assert "\n" not in cause and len(cause) <= MAX_CAUSE + 20


def test_untrusted_text_cannot_forge_a_line_or_grow_the_row() -> None:
    cause = cause_of(RuntimeError("boom\n2026 ERROR forged\x1b[31m" + "x" * 5000), TARGET)
    assert "\n" not in cause and "\x1b" not in cause and len(cause) <= MAX_CAUSE + 20


def test_the_no_worker_deadline_counts_from_the_first_look_without_poller(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [100.0]
    monkeypatch.setattr(pollers.time, "monotonic", lambda: now[0])
    watch = pollers.NoWorkerWatch(timeout=30)
    assert watch.due()
    watch.seen(1)
    assert watch.missing_since is None and not watch.due()
    now[0] += pollers.CHECK_SECONDS
    watch.seen(0)
    assert watch.missing_since == 105.0 and not watch.expired() and watch.seconds_left() == 30
    now[0] += 29
    watch.seen(0)
    assert not watch.expired()
    now[0] += 1
    assert watch.expired()
    watch.seen(2)  # a worker came back: the count starts again next time
    assert watch.missing_since is None and not watch.expired()

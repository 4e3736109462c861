"""Narrow unit tests of the gateway's error translation and read retries (no Nova)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import keystoneauth1.exceptions as ks_exceptions
import openstack.exceptions as os_exceptions
import pytest
import requests

import watcher_temporal.activities.nova as nova_module
from watcher_temporal.activities.nova import NovaGateway
from watcher_temporal.errors import MigrationFailed, NovaBusy, NovaUnavailable, PreconditionFailed


def http_error(code: int, cls: type[os_exceptions.HttpException] = os_exceptions.HttpException) -> Exception:
    response = requests.Response()
    response.status_code = code
    return cls(message=f"HTTP {code}", response=response, details="Nova says no")


class FakeCompute:
    """Answers ``get_server`` from a script of exceptions and values."""

    def __init__(self, script: list[Any]) -> None:
        self.script = script
        self.calls = 0

    def get_server(self, server_id: str) -> Any:
        self.calls += 1
        item = self.script.pop(0)
        if isinstance(item, Exception):
            raise item
        return item

    def live_migrate_server(self, *args: Any, **kwargs: Any) -> None:
        self.calls += 1
        raise self.script.pop(0)


class FakeConnection:
    def __init__(self, compute: FakeCompute) -> None:
        self.compute = compute

    def close(self) -> None:
        pass


def gateway(script: list[Any]) -> tuple[NovaGateway, FakeCompute]:
    compute = FakeCompute(script)
    return NovaGateway(connect=lambda: FakeConnection(compute)), compute  # type: ignore[arg-type,return-value]


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(nova_module, "READ_RETRY_DELAYS", (0.0, 0.0, 0.0))


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (http_error(409, os_exceptions.ConflictException), NovaBusy),
        (http_error(503), NovaUnavailable),
        (http_error(500), NovaUnavailable),
        (http_error(400, os_exceptions.BadRequestException), MigrationFailed),
        (http_error(403, os_exceptions.ForbiddenException), PreconditionFailed),
        (ks_exceptions.ConnectFailure("reset"), NovaUnavailable),
        (requests.ConnectionError("reset"), NovaUnavailable),
    ],
)
def test_writes_translate_once_and_are_not_retried_here(error: Exception, expected: type[Exception]) -> None:
    nova, compute = gateway([error])
    with pytest.raises(expected) as raised:
        nova.live_migrate("id", "host2")
    assert compute.calls == 1  # a lost write response is the activity's to examine, not ours to resend
    assert "live-migrate server" in str(raised.value)


def test_reads_retry_transient_failures_in_place() -> None:
    server = SimpleNamespace(
        id="id", name="vm", status="ACTIVE", compute_host="host1", task_state=None, vm_state="active"
    )
    nova, compute = gateway([http_error(503), ks_exceptions.ConnectFailure("reset"), server])
    snapshot = nova.get_server("id")
    assert snapshot is not None and (snapshot.host, snapshot.status) == ("host1", "ACTIVE")
    assert compute.calls == 3


def test_reads_give_up_after_the_retry_budget() -> None:
    nova, compute = gateway([http_error(503)] * 10)
    with pytest.raises(NovaUnavailable):
        nova.get_server("id")
    assert compute.calls == 1 + len(nova_module.READ_RETRY_DELAYS)


def test_a_missing_server_is_none_not_an_error() -> None:
    nova, _ = gateway([http_error(404, os_exceptions.NotFoundException)])
    assert nova.get_server("id") is None


def test_messages_carry_novas_fault_text_not_the_url() -> None:
    nova, _ = gateway([http_error(400, os_exceptions.BadRequestException)])
    with pytest.raises(MigrationFailed) as raised:
        nova.live_migrate("id", "host2")
    assert "Nova says no" in raised.value.message

"""Temporal settings come from the environment the way the ``temporal`` CLI reads them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from watcher_temporal.config import TemporalSettings, WorkerSettings


def test_defaults_reach_a_local_dev_server() -> None:
    settings = TemporalSettings.from_env({"HOME": "/nonexistent"})
    assert (settings.address, settings.namespace, settings.task_queue) == (
        "localhost:7233",
        "default",
        "watcher-actions",
    )


def test_environment_overrides_everything() -> None:
    settings = TemporalSettings.from_env(
        {
            "TEMPORAL_ADDRESS": "temporal.example:7233",
            "TEMPORAL_NAMESPACE": "ops",
            "TEMPORAL_TASK_QUEUE": "watcher-actions-az1",
            "TEMPORAL_TLS_SERVER_NAME": "temporal.example",
        }
    )
    assert (settings.address, settings.namespace, settings.task_queue) == (
        "temporal.example:7233",
        "ops",
        "watcher-actions-az1",
    )
    assert settings.connect["tls"].domain == "temporal.example"  # TLS on, as the CLI would


def test_config_profile_from_the_cli_toml(tmp_path: Path) -> None:
    toml = tmp_path / "temporal.toml"
    toml.write_text('[profile.prod]\naddress = "prod.example:7233"\nnamespace = "watcher"\n')
    settings = TemporalSettings.from_env({"TEMPORAL_CONFIG_FILE": str(toml), "TEMPORAL_PROFILE": "prod"})
    assert (settings.address, settings.namespace) == ("prod.example:7233", "watcher")


def test_an_unknown_profile_is_a_clear_error() -> None:
    # ValueError, like every bad setting: the worker says it in one line and exits 2.
    with pytest.raises(ValueError, match=r"TEMPORAL_CONFIG_FILE\): Profile 'nope' not found"):
        TemporalSettings.from_env({"TEMPORAL_PROFILE": "nope", "HOME": "/nonexistent"})


def test_the_nova_observer_is_on_by_default_and_can_be_turned_off() -> None:
    assert WorkerSettings.from_env({}).nova_observer is True
    assert WorkerSettings.from_env({"WATCHER_TEMPORAL_NOVA_OBSERVER": "0"}).nova_observer is False


def test_the_workflow_cache_is_sized_from_max_in_flight_unless_set() -> None:
    assert WorkerSettings.from_env({}).workflow_cache_size == 200
    assert WorkerSettings.from_env({"WATCHER_TEMPORAL_MAX_IN_FLIGHT": "50"}).workflow_cache_size == 100
    assert WorkerSettings.from_env({"WATCHER_TEMPORAL_MAX_CACHED_WORKFLOWS": "1500"}).workflow_cache_size == 1500
    with pytest.raises(ValueError, match="WATCHER_TEMPORAL_MAX_CACHED_WORKFLOWS"):
        WorkerSettings.from_env({"WATCHER_TEMPORAL_MAX_CACHED_WORKFLOWS": "0"})


def test_a_header_capture_that_would_record_a_credential_is_refused() -> None:
    from watcher_temporal.config import SANITIZE_HEADERS_ENV, TelemetrySettings

    capture = "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_CLIENT_REQUEST"
    with pytest.raises(ValueError, match="x-auth-token") as refused:
        TelemetrySettings.from_env({capture: ".*"})
    assert SANITIZE_HEADERS_ENV in str(refused.value)
    with pytest.raises(ValueError, match="authorization"):
        TelemetrySettings.from_env({capture: "Authorization,x-openstack-request-id"})
    # Redacted, or not captured at all: accepted.
    everything_redacted = "x-auth-token,x-subject-token,x-service-token,authorization,cookie,set-cookie"
    assert TelemetrySettings.from_env({capture: ".*", SANITIZE_HEADERS_ENV: everything_redacted}).captured_headers == (
        ".*",
    )
    assert TelemetrySettings.from_env({capture: "x-openstack-request-id"}).sanitized_headers == ()


def test_tracing_requests_leaves_the_environment_alone() -> None:
    from watcher_temporal.telemetry import instrument_requests, uninstrument_requests

    before = dict(os.environ)
    instrument_requests()
    uninstrument_requests()
    assert dict(os.environ) == before

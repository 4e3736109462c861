"""docker-compose.yml is valid, wired as documented and safe by default (no Docker engine needed).

Validated against the Compose specification's JSON schema (vendored in
``deploy/compose-spec.schema.json`` from docker-compose 1.29.2, Apache-2.0),
then checked for what the schema cannot see: references between services,
files the stack mounts, a scalable worker, and the safe defaults of
docs/security.md (no default password, loopback ports, mTLS, 30 days of
history, the codec server behind a token).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from watcher_temporal.config import METRICS_ADDRESS_ENV

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yml"


#: What scripts/compose-certs writes (tests/security/test_compose_certs.py runs it).
CERT_FILES = {f"{n}.{e}" for n in ("ca", "server", "worker", "ui", "operator") for e in ("pem", "key")}
_VARIABLE = re.compile(r"\$\{(\w+)(?::?([-?])([^}]*))?\}")


def with_defaults(text: str) -> str:
    """``text`` as compose interpolates it with no variable set: defaults, REQUIRED for ``:?``."""

    def value(match: re.Match[str]) -> str:
        return {"-": match.group(3), "?": "REQUIRED"}.get(match.group(2) or "", "")

    return _VARIABLE.sub(value, text)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def test_compose_file_matches_the_compose_spec_schema(compose: dict[str, Any]) -> None:
    schema = json.loads((REPO / "deploy" / "compose-spec.schema.json").read_text())
    validator = jsonschema.Draft201909Validator(schema)
    errors = sorted(validator.iter_errors(compose), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors)


def test_services_reference_each_other_and_existing_files(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {"postgresql", "temporal", "temporal-ui", "worker", "otel-collector", "jaeger"} <= set(services)
    for name, service in services.items():
        depends = service.get("depends_on", [])
        for target in depends if isinstance(depends, list) else depends.keys():
            assert target in services, f"{name} depends on unknown service {target}"
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("./deploy/certs/"):
                assert source.rsplit("/", 1)[1] in CERT_FILES, f"{name} mounts {source}, not made by compose-certs"
            elif source.startswith("./deploy/"):
                assert (REPO / source).is_file(), f"{name} mounts missing {source}"
            elif not source.startswith(("./", "/", "${")):
                assert source in compose.get("volumes", {}), f"{name} uses undeclared volume {source}"
        if "build" in service:
            assert (REPO / "Dockerfile").is_file()


def test_worker_scales_and_is_configured(compose: dict[str, Any]) -> None:
    worker = compose["services"]["worker"]
    assert "container_name" not in worker and "ports" not in worker, "--scale worker=N needs neither"
    env = worker["environment"]
    assert env["TEMPORAL_ADDRESS"] == "temporal:7233"
    assert env[METRICS_ADDRESS_ENV].endswith(":9464") and "9464" in worker["expose"]
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"].startswith("http://otel-collector:")
    assert env["OS_CLIENT_CONFIG_FILE"] == "/etc/openstack/clouds.yaml"
    assert any(v.endswith(":/etc/openstack/clouds.yaml:ro") for v in worker["volumes"])
    assert worker["depends_on"]["register-search-attributes"]["condition"] == "service_completed_successfully"
    register = compose["services"]["register-search-attributes"]
    assert register["command"] == ["python", "-m", "watcher_temporal.search_attributes"]


def test_collector_pipelines_use_defined_components() -> None:
    config = yaml.safe_load((REPO / "deploy" / "otel-collector.yaml").read_text())
    for pipeline in config["service"]["pipelines"].values():
        for kind in ("receivers", "processors", "exporters"):
            for component in pipeline.get(kind, []):
                assert component in config[kind], f"{component} not defined under {kind}"
    scrape = config["receivers"]["prometheus"]["config"]["scrape_configs"][0]
    assert scrape["dns_sd_configs"][0]["names"] == ["worker"]


def test_dockerfile_runs_the_worker_module_and_ignores_secrets() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    assert 'CMD ["watcher-temporal-worker"]' in dockerfile and (REPO / "worker.py").is_file()
    ignored = (REPO / ".dockerignore").read_text().split()
    assert "clouds.yaml" in ignored and ".venv" in ignored


def test_no_default_password(compose: dict[str, Any]) -> None:
    services = compose["services"]
    db_password = services["postgresql"]["environment"]["POSTGRES_PASSWORD"]
    assert db_password.startswith("${TEMPORAL_DB_PASSWORD:?"), "required, never defaulted"
    assert services["temporal"]["environment"]["POSTGRES_PWD"].startswith("${TEMPORAL_DB_PASSWORD:?")
    text = COMPOSE.read_text()
    for match in _VARIABLE.finditer(text):
        name, kind, default = match.groups()
        if any(word in name for word in ("PASSWORD", "TOKEN", "KEY", "SECRET")):
            assert kind != "-" or default in ("", "true", "false", "0", "1"), f"{name} has a default value"


def test_every_published_port_is_on_loopback_by_default(compose: dict[str, Any]) -> None:
    published = 0
    for name, service in compose["services"].items():
        for port in service.get("ports", []):
            assert isinstance(port, str), f"{name}: use the short host:port:port form"
            host, host_port, container_port = with_defaults(port).rsplit(":", 2)
            assert host == "127.0.0.1", f"{name} publishes {port} beyond loopback by default"
            assert host_port.isdigit() and container_port.isdigit(), port
            published += 1
    assert published >= 5
    assert "ports" not in compose["services"]["postgresql"]


def test_temporal_frontend_requires_client_certificates_and_clients_present_them(compose: dict[str, Any]) -> None:
    services = compose["services"]
    temporal = services["temporal"]["environment"]
    assert temporal["TEMPORAL_TLS_REQUIRE_CLIENT_AUTH"] == "true"
    assert temporal["TEMPORAL_TLS_FRONTEND_DISABLE_HOST_VERIFICATION"] == "false"
    for variable in ("TEMPORAL_TLS_SERVER_CERT", "TEMPORAL_TLS_FRONTEND_CERT", "TEMPORAL_TLS_CLIENT1_CA_CERT"):
        assert temporal[variable].startswith("/etc/temporal/certs/")
    for name in ("worker", "register-search-attributes"):
        env, mounts = services[name]["environment"], services[name]["volumes"]
        for variable in (
            "TEMPORAL_TLS_CLIENT_CERT_PATH",
            "TEMPORAL_TLS_CLIENT_KEY_PATH",
            "TEMPORAL_TLS_SERVER_CA_CERT_PATH",
        ):
            assert any(m.split(":")[1] == env[variable] for m in mounts), f"{name}: {variable} is not mounted"
        assert env["TEMPORAL_TLS_SERVER_NAME"] == "temporal"
    ui = services["temporal-ui"]["environment"]
    assert ui["TEMPORAL_TLS_ENABLE_HOST_VERIFICATION"] == "true"
    assert {ui["TEMPORAL_TLS_CERT"], ui["TEMPORAL_TLS_KEY"], ui["TEMPORAL_TLS_CA"]} <= {
        m.split(":")[1] for m in services["temporal-ui"]["volumes"]
    }
    assert (
        "deploy/certs" in (REPO / ".gitignore").read_text() and "deploy/certs" in (REPO / ".dockerignore").read_text()
    )


def test_namespace_keeps_history_for_an_audit(compose: dict[str, Any]) -> None:
    retention = with_defaults(compose["services"]["temporal"]["environment"]["DEFAULT_NAMESPACE_RETENTION"])
    assert retention.endswith("h") and int(retention[:-1]) >= 30 * 24


def test_codec_server_needs_its_token_and_is_on_loopback(compose: dict[str, Any]) -> None:
    codec = compose["services"]["codec-server"]
    assert "--insecure-no-auth" not in codec["command"]
    assert codec["environment"]["WATCHER_TEMPORAL_CODEC_SERVER_TOKENS"] == "${WATCHER_TEMPORAL_CODEC_SERVER_TOKENS:-}"
    assert "*" not in codec["environment"]["WATCHER_TEMPORAL_CODEC_CORS_ORIGINS"]
    [port] = codec["ports"]
    assert with_defaults(port) == "127.0.0.1:8888:8888"


def test_docker_compose_config_accepts_it_when_the_plugin_exists() -> None:
    docker = shutil.which("docker")
    if docker is None or subprocess.run([docker, "compose", "version"], capture_output=True).returncode != 0:
        pytest.skip("no `docker compose` plugin on this machine")
    result = subprocess.run(
        [docker, "compose", "-f", str(COMPOSE), "config", "--quiet"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "TEMPORAL_DB_PASSWORD": "only-for-config-check"},
    )
    assert result.returncode == 0, result.stderr

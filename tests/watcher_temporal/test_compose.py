"""docker-compose.yml is valid and wired as documented (no Docker engine needed).

Validated against the Compose specification's JSON schema (vendored in
``deploy/compose-spec.schema.json`` from docker-compose 1.29.2, Apache-2.0),
then checked for what the schema cannot see: references between services,
files the stack mounts, a scalable worker.
"""

from __future__ import annotations

import json
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
            if source.startswith("./deploy/"):
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


def test_docker_compose_config_accepts_it_when_the_plugin_exists() -> None:
    docker = shutil.which("docker")
    if docker is None or subprocess.run([docker, "compose", "version"], capture_output=True).returncode != 0:
        pytest.skip("no `docker compose` plugin on this machine")
    result = subprocess.run(
        [docker, "compose", "-f", str(COMPOSE), "config", "--quiet"], capture_output=True, text=True, cwd=REPO
    )
    assert result.returncode == 0, result.stderr

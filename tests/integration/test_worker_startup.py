"""The worker refuses to start, with what to fix, when its Nova is unusable; auth errors are never retried."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from openstack import connection
from openstack.config import loader
from temporalio.testing import WorkflowEnvironment

from localnova.harness import LocalNovaHandle
from watcher_temporal.activities.nova import NovaGateway
from watcher_temporal.errors import NovaAuthFailed, NovaUnavailable

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


def clouds_yaml_with(cloud: LocalNovaHandle, tmp_path: Path, **entry: Any) -> Path:
    data = yaml.safe_load(cloud.clouds_yaml.read_text())
    data["clouds"]["localnova"] |= {k: v for k, v in entry.items() if k != "auth"}
    data["clouds"]["localnova"]["auth"] |= entry.get("auth", {})
    path = tmp_path / "clouds.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def gateway_for(path: Path) -> NovaGateway:
    def connect() -> connection.Connection:
        config = loader.OpenStackConfig(config_files=[str(path)], vendor_files=[], secure_files=[])
        return connection.Connection(config=config.get_one(cloud="localnova"))

    return NovaGateway(connect=connect)


def test_a_wrong_token_is_non_retryable_and_says_what_to_fix(localnova_cloud: LocalNovaHandle, tmp_path: Path) -> None:
    nova = gateway_for(clouds_yaml_with(localnova_cloud, tmp_path, auth={"token": "not-the-token"}))
    with pytest.raises(NovaAuthFailed) as err:
        nova.compute_services()
    assert err.value.non_retryable and "401" in err.value.message and "clouds.yaml" in err.value.message
    assert "not-the-token" not in err.value.message


def test_an_unreachable_nova_is_retryable(localnova_cloud: LocalNovaHandle, tmp_path: Path) -> None:
    dead = "http://127.0.0.1:9/v2.1"
    nova = gateway_for(
        clouds_yaml_with(localnova_cloud, tmp_path, auth={"endpoint": dead}, compute_endpoint_override=dead)
    )
    with pytest.raises(NovaUnavailable) as err:
        nova.compute_services()
    assert not err.value.non_retryable


@pytest.mark.parametrize("cloud_name", ["no-such-cloud", "localnova-wrong-token"])
async def test_worker_refuses_to_start_with_an_unusable_cloud(
    dev_env: WorkflowEnvironment, localnova_cloud: LocalNovaHandle, tmp_path: Path, cloud_name: str
) -> None:
    path = clouds_yaml_with(localnova_cloud, tmp_path, auth={"token": "not-the-token"})
    env = {
        "PATH": "/usr/bin:/bin",
        "OS_CLIENT_CONFIG_FILE": str(path),
        "OS_CLOUD": "localnova" if cloud_name == "localnova-wrong-token" else cloud_name,
        "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
    }
    proc = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, str(REPO / "worker.py")],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert "cannot use Nova" in proc.stderr and "the worker does not start" in proc.stderr
    assert "Traceback" not in proc.stderr and "not-the-token" not in proc.stderr

"""Write (merge) the ``localnova`` entry of a clouds.yaml file."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import yaml

CLOUD_NAME = "localnova"


def token_entry(endpoint: str, token: str, *, placement: str | None = None) -> dict[str, Any]:
    """Entry for the token shim: keystoneauth's ``admin_token`` plugin.

    ``admin_token`` sends a fixed X-Auth-Token to a fixed endpoint and needs
    no identity service; ``compute_endpoint_override`` (and
    ``placement_endpoint_override``) tell openstacksdk where the services
    live since there is no catalog.
    """
    return {
        **_placement(placement),
        "auth_type": "admin_token",
        "auth": {"endpoint": endpoint, "token": token},
        "compute_endpoint_override": endpoint,
        "region_name": "RegionOne",
        "interface": "public",
    }


def none_entry(endpoint: str, *, placement: str | None = None) -> dict[str, Any]:
    """Entry for ``--auth none``: no credentials at all."""
    return {
        **_placement(placement),
        "auth_type": "none",
        "auth": {"endpoint": endpoint},
        "compute_endpoint_override": endpoint,
        "region_name": "RegionOne",
        "interface": "public",
    }


def _placement(endpoint: str | None) -> dict[str, Any]:
    return {"placement_endpoint_override": endpoint} if endpoint else {}


def password_entry(auth_url: str, username: str, password: str, project_name: str) -> dict[str, Any]:
    """Entry for ``--keystone``: real password login, token and catalog."""
    return {
        "auth_type": "password",
        "auth": {
            "auth_url": auth_url,
            "username": username,
            "password": password,
            "project_name": project_name,
            "user_domain_name": "Default",
            "project_domain_name": "Default",
        },
        "identity_api_version": 3,
        "region_name": "RegionOne",
        "interface": "public",
    }


def write_entry(path: Path, entry: dict[str, Any], name: str = CLOUD_NAME) -> None:
    """Insert or replace ``clouds.<name>`` in ``path``, keeping the rest.

    The file is written atomically (temp file + rename) with mode 0600
    because it contains a credential.
    """
    path = Path(path)
    data: dict[str, Any] = {}
    if path.exists():
        loaded = yaml.safe_load(path.read_text()) or {}
        if not isinstance(loaded, dict):
            raise ValueError(f"{path} is not a YAML mapping")
        data = loaded
    clouds = data.get("clouds")
    if not isinstance(clouds, dict):
        clouds = {}
    clouds[name] = entry
    data["clouds"] = clouds
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".clouds-", dir=str(path.parent))
    try:
        with os.fdopen(fd, "w") as fh:
            yaml.safe_dump(data, fh, default_flow_style=False, sort_keys=False)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise

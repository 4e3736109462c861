"""Watcher's own scenario tests (watcher-tempest-plugin, tempest) against the running stack.

``bash scripts/watcher-stack --tempest [REGEX]``: start the stack, write a
tempest workspace (``tempest init``) whose ``etc/tempest.conf`` points at the
stack's keystone, create a ``tempest`` member user in the ``admin`` project
(pre-provisioned accounts: the servers land in the project localnova's Neutron
and Glance fixtures serve), run ``tempest run`` on the plugin's scenario tests
(serially), stop the stack, exit with tempest's status.
"""

from __future__ import annotations

import secrets
import subprocess
from pathlib import Path

import yaml

from tests.fullstack.stack import BIN, WatcherServiceStack, child_env

#: What ``--tempest`` runs unless told otherwise: every scenario test of the plugin...
SCENARIO_REGEX = r"^watcher_tempest_plugin\.tests\.scenario\."
#: ... but those that cannot run here (each group with its reason; Cinder ones skip themselves).
EXCLUDE_LIST = Path(__file__).with_name("tempest-exclude.txt")
#: Fixture image and flavor of localnova's Nova (``localnova.harness``).
IMAGE_REF = "155d900f-4e14-4e4c-a73d-069cbf4541e6"
FLAVOR_REF = "1"
FLAVOR_REF_ALT = "2"


def _member_user(stack: WatcherServiceStack) -> tuple[str, str]:
    """A ``tempest`` user with the member role in the ``admin`` project; its name and password."""
    conn = stack.nova.conn
    password = secrets.token_urlsafe(16)
    project = conn.identity.find_project("admin")
    user = conn.identity.create_user(name="tempest", password=password, default_project_id=project.id)
    role = conn.identity.find_role("member")
    conn.identity.assign_project_role_to_user(project, user, role)
    return "tempest", password


def tempest_conf(stack: WatcherServiceStack, accounts_file: Path) -> str:
    """``tempest.conf`` for the stack (admin and member accounts pre-provisioned)."""
    auth = stack.cloud["auth"]
    hosts = stack.options.hosts
    sections: dict[str, dict[str, str]] = {
        "DEFAULT": {"log_file": "tempest.log", "use_stderr": "false"},
        "auth": {
            "use_dynamic_credentials": "false",
            "test_accounts_file": str(accounts_file),
            "create_isolated_networks": "false",
            "admin_username": auth["username"],
            "admin_password": auth["password"],
            "admin_project_name": auth["project_name"],
            "admin_domain_name": "Default",
            "default_credentials_domain_name": "Default",
        },
        "identity": {
            "uri_v3": auth["auth_url"],
            "auth_version": "v3",
            "region": "RegionOne",
            "v3_endpoint_type": "public",
        },
        "identity-feature-enabled": {"api_v2": "false"},
        "service_available": {
            "watcher": "true",
            "nova": "true",
            "neutron": "false",
            "glance": "false",
            "cinder": "false",
            "swift": "false",
        },
        "compute": {
            "image_ref": IMAGE_REF,
            "image_ref_alt": IMAGE_REF,
            "flavor_ref": FLAVOR_REF,
            "flavor_ref_alt": FLAVOR_REF_ALT,
            "min_compute_nodes": str(len(hosts)),
            "region": "RegionOne",
            "endpoint_type": "publicURL",
            "build_timeout": "120",
            # The plugin's multinode tests ask for 2.74+ (host in server create).
            "min_microversion": "2.1",
            "max_microversion": "latest",
            "migration_source_host": hosts[0],
            "migration_dest_host": hosts[1],
        },
        "compute-feature-enabled": {
            "live_migration": "true",
            "block_migration_for_live_migration": "false",
            "cold_migration": "true",
            "resize": "true",
        },
        # Checked as configuration only by the plugin's base class.
        "network": {"public_network_id": "00000000-0000-0000-0000-000000000000"},
        "validation": {"run_validation": "false"},
        # The plugin sends CONF.placement.min_microversion on every placement request; traits need 1.6.
        "placement": {
            "region": "RegionOne",
            "endpoint_type": "public",
            "min_microversion": "1.6",
            "max_microversion": "latest",
        },
        "optimize": {
            "region": "RegionOne",
            "endpoint_type": "publicURL",
            "resource_timeout": "180",
            # watcher-api 17 serves infra-optim 1.0-1.7; tests outside the range skip themselves.
            "min_microversion": "1.0",
            "max_microversion": "1.7",
            # Off by default in the plugin; they need only Nova and placement.
            "run_skipped_action_tests": "true",
            "run_continuous_audit_tests": "true",
            "run_extended_attributes_tests": "true",
            "run_zone_migration_extra_tests": "true",
        },
    }
    return "".join(
        f"[{name}]\n" + "".join(f"{k} = {v}\n" for k, v in values.items()) + "\n" for name, values in sections.items()
    )


def run_tempest(stack: WatcherServiceStack, regex: str = SCENARIO_REGEX) -> int:
    """Run the plugin's scenario tests against the stack; tempest's exit status."""
    workspace = stack.workdir / "tempest"
    env = child_env()
    # The workspace registry stays in the work dir too (not the user's ~/.tempest).
    init = [str(BIN / "tempest"), "init", "--workspace-path", str(stack.workdir / "tempest-workspaces.yaml")]
    init += ["--name", f"watcher-stack-{stack.task_queue}", str(workspace)]
    subprocess.run(init, env=env, check=True, capture_output=True)
    auth = stack.cloud["auth"]
    member, member_password = _member_user(stack)
    accounts = workspace / "etc" / "accounts.yaml"
    accounts.write_text(
        yaml.safe_dump(
            [
                {
                    "username": member,
                    "project_name": "admin",
                    "password": member_password,
                    "domain_name": "Default",
                    "roles": ["member"],
                },
                {
                    "username": auth["username"],
                    "project_name": auth["project_name"],
                    "password": auth["password"],
                    "domain_name": "Default",
                    "roles": ["admin"],
                },
            ]
        )
    )
    accounts.chmod(0o600)
    conf = workspace / "etc" / "tempest.conf"
    conf.write_text(tempest_conf(stack, accounts))
    conf.chmod(0o600)
    cmd = [str(BIN / "tempest"), "run", "--config-file", str(conf), "--regex", regex, "--serial"]
    if regex == SCENARIO_REGEX:
        cmd += ["--exclude-list", str(EXCLUDE_LIST)]
    proc = subprocess.Popen(cmd, cwd=workspace, env=env)
    try:
        return proc.wait()
    finally:
        if proc.poll() is None:  # Ctrl-C / SIGTERM of the stack: tempest goes too
            proc.terminate()
            proc.wait(timeout=30)

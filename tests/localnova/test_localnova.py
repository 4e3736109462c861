"""Integration tests of localnova through unmodified openstacksdk.

All tests share the session cloud (``localnova_cloud``); the ``localnova``
fixture resets knobs and stats before each test.  Every wait polls a
condition with a deadline.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from keystoneauth1 import exceptions as ks_exc
from openstack import exceptions as sdk_exc

from localnova.harness import LocalNova, LocalNovaHandle

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]


def wait_for(
    predicate: Callable[[], Any], timeout: float = 30.0, interval: float = 0.1, what: str = "condition"
) -> Any:
    """Poll ``predicate`` until truthy; return its value or fail."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


@pytest.fixture
def servers(localnova: LocalNovaHandle) -> Iterator[list[str]]:
    """Collects server ids booted by a test; deletes them afterwards."""
    booted: list[str] = []
    yield booted
    localnova.reset_config()  # no faults while cleaning up
    conn = localnova.conn
    for sid in booted:
        settle_migrations(localnova, sid)
        conn.compute.delete_server(sid, ignore_missing=True)
    for sid in booted:
        wait_for(lambda sid=sid: conn.compute.find_server(sid, ignore_missing=True) is None, what=f"delete of {sid}")


def settle_migrations(cloud: LocalNovaHandle, sid: str, timeout: float = 60.0) -> None:
    """Wait until a server has no migration in progress.

    A failed test may leave a slow live migration running: it is aborted
    so the delete does not wait for it.  A migration can finish between the
    read and the abort (Nova then answers 400/409): that is not an error,
    the state is read again until nothing is in progress.
    """
    conn = cloud.conn
    deadline = time.monotonic() + timeout
    while True:
        try:
            pending = list(conn.compute.server_migrations(sid))
        except sdk_exc.NotFoundException:
            return  # the server is gone already
        if not pending:
            return
        for mig in pending:
            if mig.status == "running":
                try:
                    conn.compute.abort_server_migration(mig, sid)
                except (sdk_exc.ConflictException, sdk_exc.BadRequestException, sdk_exc.NotFoundException):
                    pass  # finished (or finishing) meanwhile
        if time.monotonic() > deadline:
            pytest.fail(f"server {sid} still has migrations in progress: {[m.status for m in pending]}")
        time.sleep(0.1)


def boot_on(cloud: LocalNovaHandle, servers: list[str], host: str) -> Any:
    sid = cloud.boot_servers(1, hosts=[host], name_prefix="t")[0]
    servers.append(sid)
    return cloud.wait_server(sid, "ACTIVE", host=host)


def other_host(cloud: LocalNovaHandle, host: str) -> str:
    return next(h for h in cloud.hosts if h != host)


def migrations_of(cloud: LocalNovaHandle, sid: str) -> list[Any]:
    return list(cloud.conn.compute.migrations(instance_uuid=sid))


def last_status(cloud: LocalNovaHandle, sid: str) -> str | None:
    """Status of the newest migration of a server (None if none yet)."""
    migs = migrations_of(cloud, sid)
    return migs[0].status if migs else None


def in_progress(cloud: LocalNovaHandle, sid: str) -> list[Any]:
    return list(cloud.conn.compute.server_migrations(sid))


# -- basics -----------------------------------------------------------------


def test_boot_and_inventory(localnova: LocalNovaHandle, servers: list[str]) -> None:
    conn = localnova.conn
    ids = localnova.boot_servers(3, hosts=localnova.hosts)
    servers.extend(ids)
    placed = {conn.compute.get_server(s).compute_host for s in ids}
    assert placed == set(localnova.hosts)
    hypervisors = {h.name for h in conn.compute.hypervisors()}
    assert hypervisors == set(localnova.hosts)
    computes = [s for s in conn.compute.services() if s.binary == "nova-compute"]
    assert {s.host for s in computes} == set(localnova.hosts)
    assert all(s.state == "up" and s.status == "enabled" for s in computes)


def test_stop_start(localnova: LocalNovaHandle, servers: list[str]) -> None:
    server = boot_on(localnova, servers, localnova.hosts[0])
    localnova.conn.compute.stop_server(server)
    localnova.wait_server(server.id, "SHUTOFF")
    localnova.conn.compute.start_server(server)
    localnova.wait_server(server.id, "ACTIVE")


# -- live migration -----------------------------------------------------------


def test_live_migrate_to_named_host(localnova: LocalNovaHandle, servers: list[str]) -> None:
    server = boot_on(localnova, servers, localnova.hosts[0])
    dest = localnova.hosts[1]
    localnova.conn.compute.live_migrate_server(server, host=dest, block_migration="auto")
    localnova.wait_server(server.id, "ACTIVE", host=dest)
    migs = migrations_of(localnova, server.id)
    wait_for(lambda: last_status(localnova, server.id) == "completed", what="migration completed")
    assert migs[0].migration_type == "live-migration"


def test_live_migrate_scheduler_picks(localnova: LocalNovaHandle, servers: list[str]) -> None:
    source = localnova.hosts[0]
    server = boot_on(localnova, servers, source)
    localnova.conn.compute.live_migrate_server(server, host=None, block_migration="auto")
    moved = wait_for(
        lambda: (lambda s: s if s.status == "ACTIVE" and s.compute_host != source else None)(
            localnova.conn.compute.get_server(server.id)
        ),
        what="server moved off its source",
    )
    assert moved.compute_host in localnova.hosts
    # The server is ACTIVE on its destination before Nova marks the
    # migration completed (post-live-migration runs after the host flip).
    wait_for(lambda: last_status(localnova, server.id) == "completed", what="migration completed")
    assert in_progress(localnova, server.id) == []


def test_live_migration_progress_and_force_complete(localnova: LocalNovaHandle, servers: list[str]) -> None:
    localnova.configure(live_migration_seconds=30)
    source = localnova.hosts[0]
    dest = localnova.hosts[2]
    server = boot_on(localnova, servers, source)
    localnova.conn.compute.live_migrate_server(server, host=dest, block_migration="auto")

    def progressing() -> Any:
        for m in in_progress(localnova, server.id):
            if (
                m.status == "running"
                and m.memory_total_bytes
                and 0 < (m.memory_processed_bytes or 0) < m.memory_total_bytes
            ):
                return m
        return None

    first = wait_for(progressing, what="memory progress on the migration")
    wait_for(
        lambda: (progressing() or first).memory_processed_bytes > first.memory_processed_bytes,
        what="progress advancing",
    )
    assert first.memory_remaining_bytes == first.memory_total_bytes - first.memory_processed_bytes
    # Same record through GET /servers/{id}/migrations/{mid}.
    one = localnova.conn.compute.get_server_migration(first, server.id)
    assert one.memory_total_bytes == first.memory_total_bytes

    localnova.conn.compute.force_complete_server_migration(first, server.id)
    localnova.wait_server(server.id, "ACTIVE", host=dest, timeout=15)
    wait_for(lambda: last_status(localnova, server.id) == "completed", what="migration completed")


def test_abort_live_migration(localnova: LocalNovaHandle, servers: list[str]) -> None:
    localnova.configure(live_migration_seconds=10)
    source = localnova.hosts[1]
    server = boot_on(localnova, servers, source)
    localnova.conn.compute.live_migrate_server(server, host=localnova.hosts[0], block_migration="auto")
    running = wait_for(
        lambda: [m for m in in_progress(localnova, server.id) if m.status == "running"], what="running migration"
    )[0]
    started = time.monotonic()
    localnova.conn.compute.abort_server_migration(running, server.id)
    wait_for(lambda: last_status(localnova, server.id) == "cancelled", what="migration cancelled")
    assert time.monotonic() - started < 5, "abort took the full duration"
    after = localnova.wait_server(server.id, "ACTIVE")
    assert after.compute_host == source
    assert in_progress(localnova, server.id) == []


def test_live_migration_failing_destination(localnova: LocalNovaHandle, servers: list[str]) -> None:
    source = localnova.hosts[0]
    dest = localnova.hosts[1]
    localnova.configure(live_migration_fail_hosts=[dest], live_migration_seconds=1)
    server = boot_on(localnova, servers, source)
    localnova.conn.compute.live_migrate_server(server, host=dest, block_migration="auto")
    wait_for(lambda: last_status(localnova, server.id) == "error", what="migration error")
    after = localnova.wait_server(server.id, "ACTIVE")
    assert after.compute_host == source


# -- cold migration -----------------------------------------------------------


def test_cold_migrate_confirm(localnova: LocalNovaHandle, servers: list[str]) -> None:
    source = localnova.hosts[0]
    dest = localnova.hosts[2]
    server = boot_on(localnova, servers, source)
    localnova.conn.compute.migrate_server(server, host=dest)
    localnova.wait_server(server.id, "VERIFY_RESIZE", host=dest)
    localnova.conn.compute.confirm_server_resize(server)
    localnova.wait_server(server.id, "ACTIVE", host=dest)
    wait_for(lambda: last_status(localnova, server.id) == "confirmed", what="migration confirmed")


def test_cold_migrate_revert(localnova: LocalNovaHandle, servers: list[str]) -> None:
    localnova.configure(cold_migration_seconds=0.5)
    source = localnova.hosts[1]
    dest = localnova.hosts[2]
    server = boot_on(localnova, servers, source)
    localnova.conn.compute.migrate_server(server, host=dest)
    localnova.wait_server(server.id, "VERIFY_RESIZE", host=dest)
    localnova.conn.compute.revert_server_resize(server)
    localnova.wait_server(server.id, "ACTIVE", host=source)
    wait_for(lambda: last_status(localnova, server.id) == "reverted", what="migration reverted")


def test_cold_migration_failing_destination(localnova: LocalNovaHandle, servers: list[str]) -> None:
    source = localnova.hosts[0]
    dest = localnova.hosts[1]
    localnova.configure(cold_migration_fail_hosts=[dest])
    server = boot_on(localnova, servers, source)
    localnova.conn.compute.migrate_server(server, host=dest)
    wait_for(lambda: last_status(localnova, server.id) == "error", what="cold migration error")
    after = localnova.wait_server(server.id, "ACTIVE")
    assert after.compute_host == source


# -- services -----------------------------------------------------------------


def test_disabled_service_is_avoided(localnova: LocalNovaHandle, servers: list[str]) -> None:
    conn = localnova.conn
    source, disabled, expected = localnova.hosts[:3]
    server = boot_on(localnova, servers, source)
    svc = next(s for s in conn.compute.services() if s.host == disabled and s.binary == "nova-compute")
    conn.compute.disable_service(svc, disabled_reason="maintenance")
    try:
        assert next(s for s in conn.compute.services() if s.id == svc.id).status == "disabled"
        conn.compute.live_migrate_server(server, host=None, block_migration="auto")
        localnova.wait_server(server.id, "ACTIVE", host=expected)
    finally:
        conn.compute.enable_service(svc)
    # forced_down marks the service down at once; undo it.
    conn.compute.update_service_forced_down(svc, forced=True)
    try:
        assert next(s for s in conn.compute.services() if s.id == svc.id).state == "down"
    finally:
        conn.compute.update_service_forced_down(svc, forced=False)
    wait_for(lambda: next(s for s in conn.compute.services() if s.id == svc.id).state == "up", what="service up again")


# -- faults, control API --------------------------------------------------------


def test_injected_faults_reach_the_client(localnova: LocalNovaHandle, servers: list[str]) -> None:
    server = boot_on(localnova, servers, localnova.hosts[0])
    conn = localnova.connect()  # fresh connection, no retries configured
    conn.compute.get_server(server.id)  # version discovery before faults
    localnova.configure(fault_503_rate=1.0)
    with pytest.raises(sdk_exc.HttpException) as info:
        conn.compute.get_server(server.id)
    assert info.value.status_code == 503
    localnova.configure(fault_503_rate=0.0, fault_500_rate=1.0)
    with pytest.raises(sdk_exc.HttpException) as info:
        conn.compute.get_server(server.id)
    assert info.value.status_code == 500
    localnova.configure(fault_500_rate=0.0, fault_drop_rate=1.0)
    # A dropped connection surfaces as keystoneauth's ConnectFailure
    # (http.client.RemoteDisconnected underneath), as with a real outage.
    with pytest.raises(ks_exc.ConnectionError):
        conn.compute.get_server(server.id)
    # Faults never apply to the control API: switching them off works.
    localnova.configure(fault_drop_rate=0.0, latency_ms=50)
    started = time.monotonic()
    assert conn.compute.get_server(server.id).id == server.id
    assert time.monotonic() - started >= 0.05
    faults = localnova.stats()["faults"]
    assert faults.get("503", 0) >= 1 and faults.get("500", 0) >= 1
    assert faults.get("drop", 0) >= 1


def test_lost_response_still_takes_effect(localnova: LocalNovaHandle, servers: list[str]) -> None:
    """fault_lost_response_rate: Nova applies the POST, the client gets no answer."""
    server = boot_on(localnova, servers, localnova.hosts[0])
    conn = localnova.connect()  # fresh connection, no retries configured
    conn.compute.get_server(server.id)  # version discovery before faults
    with pytest.raises(ValueError, match="fault_lost_response_rate"):
        localnova.configure(fault_lost_response_rate=1.5)
    assert localnova.configure(fault_lost_response_rate=1.0, fault_methods=["POST"])["fault_lost_response_rate"] == 1.0
    localnova.reset_stats()  # forget the boot's 202
    with pytest.raises(ks_exc.ConnectionError):
        conn.compute.stop_server(server)
    # GETs are not faulted (fault_methods): the stop was applied anyway.
    localnova.wait_server(server.id, "SHUTOFF")
    stats = localnova.stats()
    assert stats["faults"].get("lost") == 1
    assert stats["by_path_template"]["POST /v2.1/servers/{id}/action"] == 1
    assert "202" not in stats["by_status"], "the answer must not have been sent"


def test_control_api_and_stats(localnova: LocalNovaHandle) -> None:
    conn = localnova.conn
    list(conn.compute.servers())
    list(conn.compute.servers())
    stats = localnova.stats()
    assert stats["total"] >= 2
    assert stats["by_method"]["GET"] >= 2
    assert stats["by_path_template"]["GET /v2.1/servers/detail"] == 2
    assert localnova.reset_stats()["total"] == 0
    assert localnova.configure(fault_methods=["post"])["fault_methods"] == ["POST"]
    assert localnova.reset_config() == localnova.config()
    req = urllib.request.Request(
        f"{localnova.base_url}/localnova/config", method="PATCH", data=json.dumps({"no_such_knob": 1}).encode()
    )
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(req, timeout=10)
    assert info.value.code == 400
    # The Compute API rejects a wrong token.
    bad = urllib.request.Request(f"{localnova.endpoint}/servers", headers={"X-Auth-Token": "wrong"})
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(bad, timeout=10)
    assert info.value.code == 401


@pytest.mark.parametrize(
    "body",
    [
        {"live_migration_seconds": True},
        {"live_migration_prepare_seconds": -1},
        {"live_migration_mib_per_second": "nan"},
        {"live_migration_stall_hosts": [1, 2]},
        {"fault_lost_response_rate": 2},
        {"max_concurrent_live_migrations": 1.5},
        {"max_concurrent_live_migrations": -1},
    ],
)
def test_control_api_refuses_bad_knob_values(localnova: LocalNovaHandle, body: dict[str, Any]) -> None:
    before = localnova.config()
    req = urllib.request.Request(
        f"{localnova.base_url}/localnova/config", method="PATCH", data=json.dumps(body).encode()
    )
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(req, timeout=10)
    assert info.value.code == 400
    assert next(iter(body)) in json.loads(info.value.read())["error"]
    assert localnova.config() == before


# -- CLI ------------------------------------------------------------------------


def _children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def test_cli_up_clouds_yaml_and_sigterm(tmp_path: Path) -> None:
    clouds = tmp_path / "clouds.yaml"
    clouds.write_text(
        yaml.safe_dump({"clouds": {"other": {"auth": {"auth_url": "http://x"}}, "localnova": {"stale": True}}})
    )
    child_tmp = tmp_path / "tmp"
    child_tmp.mkdir()
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), TMPDIR=str(child_tmp))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "localnova",
            "up",
            "--hosts",
            "a1,a2",
            "--port",
            "0",
            "--servers",
            "2",
            "--clouds-yaml",
            str(clouds),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
        text=True,
    )
    try:
        line = proc.stdout.readline()  # blocks until READY (or EOF)
        assert line.startswith("READY http://127.0.0.1:"), line
        endpoint = line.split()[1]
        data = yaml.safe_load(clouds.read_text())
        assert "other" in data["clouds"]
        assert data["clouds"]["localnova"]["auth_type"] == "admin_token"
        assert data["clouds"]["localnova"]["compute_endpoint_override"] == (endpoint)
        client = subprocess.run(
            [
                sys.executable,
                "-c",
                "import openstack\n"
                "c = openstack.connect(cloud='localnova')\n"
                "print(sorted(s.compute_host for s in c.compute.servers()))\n"
                "print(len(list(c.compute.migrations())))\n",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            env=dict(os.environ, OS_CLIENT_CONFIG_FILE=str(clouds), OS_CLOUD="localnova"),
        )
        assert client.returncode == 0, client.stderr
        assert client.stdout.splitlines()[0] == "['a1', 'a2']"
    finally:
        proc.send_signal(signal.SIGTERM)
        rest, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert rest == "", "stdout must carry only the READY line"
    assert _children(proc.pid) == []
    assert list(child_tmp.iterdir()) == [], "temp files left behind"


# -- keystone mode ----------------------------------------------------------------

_KEYSTONE_CLIENT = """
import json
import openstack

c = openstack.connect(cloud="localnova")
token = c.session.get_token()
print(json.dumps({
    "token": bool(token),
    "catalog_compute": c.session.get_endpoint(service_type="compute", interface="public", region_name="RegionOne"),
    "servers": sorted(s.compute_host for s in c.compute.servers()),
    "migrations": [m.status for m in c.compute.migrations()],
    "hypervisors": sorted(h.name for h in c.compute.hypervisors()),
    # placement through the catalog, behind keystonemiddleware
    "providers": sorted(p["name"] for p in c.placement.get("/resource_providers").json()["resource_providers"]),
}))
"""


@pytest.mark.integration
def test_keystone_password_auth(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--keystone: real keystone, password login, catalog, real auth_token."""
    child_tmp = tmp_path / "tmp"
    child_tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(child_tmp))  # the cloud's and keystone's temp dirs
    cloud = LocalNova(hosts=("k1", "k2"), servers=1, keystone=True)
    handle = cloud.start()
    try:
        keystone_pids = _children(handle.process.pid)
        assert len(keystone_pids) == 1, "expected exactly one child: keystone"
        health = handle.health()
        assert health["auth"] == "keystone"
        auth_url = health["auth_url"]

        entry = yaml.safe_load(handle.clouds_yaml.read_text())["clouds"]["localnova"]
        assert entry["auth_type"] == "password"
        assert entry["auth"]["auth_url"] == auth_url
        assert entry["auth"]["username"] == "admin" and entry["auth"]["password"]
        assert "token" not in entry["auth"] and "compute_endpoint_override" not in entry
        assert oct(handle.clouds_yaml.stat().st_mode & 0o777) == "0o600"
        assert entry["auth"]["password"] not in handle.log_tail(10_000), "password leaked into the log"

        # Another process: password -> token + catalog -> Nova.
        client = subprocess.run(
            [sys.executable, "-c", _KEYSTONE_CLIENT],
            capture_output=True,
            text=True,
            timeout=120,
            env=dict(os.environ, **handle.env()),
        )
        assert client.returncode == 0, client.stderr
        seen = json.loads(client.stdout.splitlines()[-1])
        assert seen["token"]
        assert seen["catalog_compute"].rstrip("/") == handle.endpoint
        assert seen["servers"] == ["k1"]
        assert seen["migrations"] == []
        assert seen["hypervisors"] == ["k1", "k2"]  # admin-only API
        assert seen["providers"] == ["k1", "k2"]

        # Nova's real keystonemiddleware rejects a bogus token and points
        # at the real keystone.
        bad = urllib.request.Request(f"{handle.endpoint}/servers", headers={"X-Auth-Token": "bogus"})
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(bad, timeout=30)
        assert info.value.code == 401
        assert info.value.headers["WWW-Authenticate"] == f'Keystone uri="{auth_url}"'
        # ... and identity headers alone (the functional tests' stub) too.
        forged = urllib.request.Request(
            f"{handle.endpoint}/servers", headers={"X-Auth-User": "admin", "X-Roles": "admin"}
        )
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(forged, timeout=30)
        assert info.value.code == 401
        bogus_placement = urllib.request.Request(
            f"{handle.base_url}/placement/resource_providers", headers={"X-Auth-Token": "bogus"}
        )
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(bogus_placement, timeout=30)
        assert info.value.code == 401
    finally:
        status = handle.stop()
    assert status == 0
    for pid in keystone_pids:
        assert not Path(f"/proc/{pid}").exists(), "keystone outlived the cloud"
    assert list(child_tmp.iterdir()) == [], "temp files left behind"


# -- migration policy knobs (stall, force-complete, abort while preparing, size) --


def running_migration(cloud: LocalNovaHandle, sid: str) -> Any:
    """The server's in-progress migration once it is ``running``."""
    return wait_for(
        lambda: next((m for m in in_progress(cloud, sid) if m.status == "running"), None), what="running migration"
    )


def stalled_at_half(cloud: LocalNovaHandle, sid: str) -> Any:
    """Wait until the copy reached its stall point (half the memory)."""

    def at_half() -> Any:
        m = next((m for m in in_progress(cloud, sid) if m.status == "running"), None)
        if m is not None and m.memory_total_bytes and m.memory_processed_bytes == m.memory_total_bytes // 2:
            return m
        return None

    return wait_for(at_half, what="copy stalled at half")


def test_stalled_live_migration_then_force_complete(localnova: LocalNovaHandle, servers: list[str]) -> None:
    source, dest = localnova.hosts[0], localnova.hosts[1]
    localnova.configure(live_migration_seconds=1, live_migration_stall_hosts=[dest])
    server = boot_on(localnova, servers, source)
    localnova.conn.compute.live_migrate_server(server, host=dest, block_migration="auto")
    stalled = stalled_at_half(localnova, server.id)
    # Absence of progress can only be shown over time: three times the
    # configured duration later, nothing moved and it is still running.
    time.sleep(3)
    later = running_migration(localnova, server.id)
    assert later.id == stalled.id
    assert later.memory_remaining_bytes == stalled.memory_remaining_bytes == stalled.memory_total_bytes // 2
    assert localnova.conn.compute.get_server(server.id).compute_host == source

    localnova.conn.compute.force_complete_server_migration(later, server.id)
    after = localnova.wait_server(server.id, "ACTIVE", host=dest)
    wait_for(lambda: last_status(localnova, server.id) == "completed", what="migration completed")
    assert after.power_state == 1  # RUNNING on the destination after the pause


def test_stalled_live_migration_then_abort(localnova: LocalNovaHandle, servers: list[str]) -> None:
    source = localnova.hosts[2]
    server = boot_on(localnova, servers, source)
    localnova.configure(live_migration_seconds=1, live_migration_stall_servers=[server.id])
    localnova.conn.compute.live_migrate_server(server, host=None, block_migration="auto")
    stalled = stalled_at_half(localnova, server.id)
    localnova.conn.compute.abort_server_migration(stalled, server.id)
    wait_for(lambda: last_status(localnova, server.id) == "cancelled", what="migration cancelled")
    assert localnova.wait_server(server.id, "ACTIVE").compute_host == source


def test_abort_live_migration_while_preparing(localnova: LocalNovaHandle, servers: list[str]) -> None:
    source, dest = localnova.hosts[1], localnova.hosts[2]
    localnova.configure(live_migration_prepare_seconds=3, live_migration_seconds=30)
    server = boot_on(localnova, servers, source)
    localnova.conn.compute.live_migrate_server(server, host=dest, block_migration="auto")
    preparing = wait_for(
        lambda: next((m for m in in_progress(localnova, server.id) if m.status == "preparing"), None),
        what="migration preparing",
    )
    # Force-complete needs a running copy; Nova refuses it while preparing.
    with pytest.raises(sdk_exc.BadRequestException, match="preparing"):
        localnova.conn.compute.force_complete_server_migration(preparing, server.id)
    localnova.conn.compute.abort_server_migration(preparing, server.id)  # microversion >= 2.65
    wait_for(lambda: last_status(localnova, server.id) == "cancelled", what="migration cancelled")
    after = localnova.wait_server(server.id, "ACTIVE")
    assert after.compute_host == source
    assert in_progress(localnova, server.id) == []


def test_abort_live_migration_while_queued(localnova: LocalNovaHandle, servers: list[str]) -> None:
    source, dest = localnova.hosts[0], localnova.hosts[2]
    conn = localnova.conn
    first, second = boot_on(localnova, servers, source), boot_on(localnova, servers, source)
    knobs = localnova.configure(
        max_concurrent_live_migrations=1, live_migration_seconds=1, live_migration_stall_servers=[first.id]
    )
    assert knobs["max_concurrent_live_migrations"] == 1
    conn.compute.live_migrate_server(first, host=dest, block_migration="auto")
    held = stalled_at_half(localnova, first.id)
    # The executor's one worker holds the first copy: Nova queues the second.
    conn.compute.live_migrate_server(second, host=dest, block_migration="auto")
    queued = wait_for(
        lambda: next((m for m in in_progress(localnova, second.id) if m.status == "queued"), None),
        what="second migration queued",
    )
    conn.compute.abort_server_migration(queued, second.id)  # microversion >= 2.65
    wait_for(lambda: last_status(localnova, second.id) == "cancelled", what="queued migration cancelled")
    after = localnova.wait_server(second.id, "ACTIVE", host=source)
    assert after.task_state is None
    assert in_progress(localnova, second.id) == []
    assert [m.status for m in in_progress(localnova, first.id)] == ["running"]
    conn.compute.abort_server_migration(held, first.id)
    wait_for(lambda: last_status(localnova, first.id) == "cancelled", what="held migration cancelled")

    # A reset restores the start-up value (Nova's 1 per host); 0 = unlimited: two copies from one host at once.
    assert localnova.reset_config()["max_concurrent_live_migrations"] == 1
    localnova.configure(
        max_concurrent_live_migrations=0, live_migration_seconds=1, live_migration_stall_servers=[first.id, second.id]
    )
    for server in (first, second):
        localnova.wait_server(server.id, "ACTIVE", host=source)
        conn.compute.live_migrate_server(server, host=dest, block_migration="auto")
    both = [stalled_at_half(localnova, server.id) for server in (first, second)]
    for server, migration in zip((first, second), both, strict=True):
        conn.compute.abort_server_migration(migration, server.id)
        wait_for(lambda sid=server.id: in_progress(localnova, sid) == [], what=f"abort of {server.id}")


def test_memory_numbers_follow_the_flavor(localnova: LocalNovaHandle) -> None:
    conn = localnova.conn
    flavor = conn.compute.create_flavor(name=f"ln-2g-{time.monotonic_ns()}", ram=2048, vcpus=1, disk=1)
    source, dest = localnova.hosts[0], localnova.hosts[2]
    created = conn.compute.create_server(
        name="ln-2g",
        image_id="155d900f-4e14-4e4c-a73d-069cbf4541e6",
        flavor_id=flavor.id,
        networks="none",
        availability_zone=f"nova:{source}",
    )
    try:
        localnova.wait_server(created.id, "ACTIVE", host=source)
        # 2048 MiB at 128 MiB/s: a 16 s copy, sized by the flavor.
        localnova.configure(live_migration_mib_per_second=128)
        conn.compute.live_migrate_server(created.id, host=dest, block_migration=False)
        first = running_migration(localnova, created.id)
        assert first.memory_total_bytes == 2048 * 2**20
        moving = wait_for(
            lambda: (lambda m: m if m and m.memory_processed_bytes > first.memory_processed_bytes else None)(
                running_migration(localnova, created.id)
            ),
            what="memory progress",
        )
        for m in (first, moving):
            assert m.memory_processed_bytes >= 1 and m.memory_remaining_bytes >= 1
            assert m.memory_processed_bytes + m.memory_remaining_bytes == m.memory_total_bytes
            # Not a block migration: no disk numbers (null, never 0).
            assert m.disk_total_bytes is None and m.disk_processed_bytes is None
        # Nova's response validation ("minimum": 1) found nothing to log.
        assert "Schema failed to validate" not in localnova.log_tail(2000)
        conn.compute.abort_server_migration(moving, created.id)
        wait_for(lambda: last_status(localnova, created.id) == "cancelled", what="migration cancelled")
    finally:
        settle_migrations(localnova, created.id)
        conn.compute.delete_server(created.id, ignore_missing=True)
        wait_for(lambda: conn.compute.find_server(created.id, ignore_missing=True) is None, what="delete")
        conn.compute.delete_flavor(flavor)


def test_placement_is_served_behind_the_same_token(localnova: LocalNovaHandle) -> None:
    """openstacksdk reads placement (clouds.yaml ``placement_endpoint_override``); no token, no answer."""
    providers = localnova.conn.placement.get("/resource_providers").json()["resource_providers"]
    assert sorted(p["name"] for p in providers) == sorted(localnova.hosts)
    inventory = localnova.conn.placement.get(f"/resource_providers/{providers[0]['uuid']}/inventories").json()
    assert set(inventory["inventories"]) >= {"VCPU", "MEMORY_MB", "DISK_GB"}
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{localnova.base_url}/placement/resource_providers", timeout=10)
    assert refused.value.code == 401
    assert localnova.stats()["by_path_template"]["GET /placement/resource_providers"] == 2

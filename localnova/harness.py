"""Start a localnova cloud in a subprocess and drive it from Python.

This module never imports Nova: Nova monkey patches eventlet on import, which
must not happen inside a test runner or benchmark.  The cloud runs in
``python -m localnova up`` and is reached over HTTP only.

Example::

    from localnova import LocalNova

    with LocalNova(hosts=("host1", "host2"), servers=2,
                   live_migration_seconds=5) as cloud:
        conn = cloud.connect()
        ...
        cloud.configure(fault_503_rate=0.2)
"""

from __future__ import annotations

import collections
import ctypes
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from localnova import knobs as knobs_mod

#: The clouds.yaml entry name.
CLOUD_NAME = "localnova"
#: Image / flavor / network choice used by :meth:`LocalNovaHandle.boot_servers`
#: (the Glance fixture image and m1.tiny; no ports, so boots are fast).
DEFAULT_IMAGE = "155d900f-4e14-4e4c-a73d-069cbf4541e6"
DEFAULT_FLAVOR = "1"
_REPO_ROOT = Path(__file__).resolve().parent.parent


class LocalNovaError(RuntimeError):
    """The cloud failed to start, died, or an operation timed out."""


def set_pdeathsig() -> None:  # pragma: no cover - runs in the child
    """Make the child get SIGTERM if its parent dies (Linux only)."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:  # noqa: BLE001 - best effort
        pass


class LocalNovaHandle:
    """Handle on a running cloud (returned by :class:`LocalNova`).

    Attributes:
        endpoint: Compute endpoint, e.g. ``http://127.0.0.1:40123/v2.1``.
        base_url: Server root, e.g. ``http://127.0.0.1:40123``.
        clouds_yaml: Path of the clouds.yaml holding the entry.
        cloud_name: Name of the entry (``"localnova"``).
        hosts: Compute host names.
        process: The ``python -m localnova up`` subprocess.
        log_path: Its stderr (Nova's log).
    """

    def __init__(
        self,
        endpoint: str,
        clouds_yaml: Path,
        cloud_name: str,
        hosts: Sequence[str],
        process: subprocess.Popen,
        log_path: Path,
        workdir: Path | None,
        initial_knobs: dict[str, Any],
    ) -> None:
        self.endpoint = endpoint
        self.base_url = endpoint.rsplit("/v2.1", 1)[0]
        self.clouds_yaml = clouds_yaml
        self.cloud_name = cloud_name
        self.hosts = tuple(hosts)
        self.process = process
        self.log_path = log_path
        self.initial_knobs = dict(initial_knobs)
        self._workdir = workdir
        self._conn: Any = None
        self._reader: threading.Thread | None = None

    # -- clients ------------------------------------------------------------

    def env(self) -> dict[str, str]:
        """Environment variables that point other processes at this cloud."""
        return {"OS_CLIENT_CONFIG_FILE": str(self.clouds_yaml), "OS_CLOUD": self.cloud_name}

    def connect(self, **kwargs: Any) -> Any:
        """Return a new ``openstack.connection.Connection`` (admin).

        Reads this handle's clouds.yaml only (not ``~/.config/openstack``),
        whatever the environment says: ``load_envvars=False`` keeps
        openstacksdk from putting ``OS_CLIENT_CONFIG_FILE`` before it and from
        reading ``OS_CLOUD`` / ``OS_*``.  ``kwargs`` are passed to
        ``Connection`` (e.g. ``compute_api_version="2.90"``).
        """
        from openstack import connection
        from openstack.config import loader

        config = loader.OpenStackConfig(
            config_files=[str(self.clouds_yaml)], vendor_files=[], secure_files=[], load_envvars=False
        )
        region = config.get_one(cloud=self.cloud_name)
        return connection.Connection(config=region, **kwargs)

    @property
    def conn(self) -> Any:
        """A cached Connection used by the helper methods."""
        if self._conn is None:
            self._conn = self.connect()
        return self._conn

    # -- control API --------------------------------------------------------

    def _control(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            f"{self.base_url}/localnova{path}", data=data, method=method, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")
            raise LocalNovaError(f"control {method} {path}: HTTP {exc.code}: {detail}") from None

    def configure(self, **knobs: Any) -> dict[str, Any]:
        """Change behaviour knobs at runtime (PATCH /localnova/config).

        Args:
            **knobs: Any knob of :class:`localnova.knobs.Knobs` (names
                in ``localnova.knobs.KNOB_NAMES``).

        Returns:
            All knobs after the change.
        """
        knobs_mod.validate(knobs)  # fail fast, with a Python traceback
        return self._control("PATCH", "/config", knobs)

    def config(self) -> dict[str, Any]:
        """Return the current knobs."""
        return self._control("GET", "/config")

    def reset_config(self) -> dict[str, Any]:
        """Return every knob to its start-up value."""
        return self._control("POST", "/config/reset")

    def stats(self) -> dict[str, Any]:
        """Compute API request counters (``total``, ``by_method``, ...)."""
        return self._control("GET", "/stats")

    def reset_stats(self) -> dict[str, Any]:
        """Zero the request counters."""
        return self._control("POST", "/stats/reset")

    def health(self) -> dict[str, Any]:
        """``GET /localnova/health``."""
        return self._control("GET", "/health")

    # -- servers ------------------------------------------------------------

    def boot_servers(
        self,
        n: int,
        *,
        hosts: Sequence[str] | None = None,
        name_prefix: str = "ln",
        wait: bool = True,
        timeout: float = 120.0,
        batch: int = 1,
    ) -> list[str]:
        """Boot ``n`` servers through the Compute API.

        Args:
            n: How many.
            hosts: If given, pin servers round-robin to these hosts
                (``availability_zone="nova:<host>"``, admin only);
                otherwise the scheduler places them.  With ``batch`` > 1
                a whole batch goes to one host.
            name_prefix: Servers are named ``<prefix>-<i>`` (with ``batch``
                > 1: ``<prefix>-b<k>-<i>``, Nova's multi-create naming).
            wait: Wait until all are ACTIVE.
            timeout: Seconds to wait.
            batch: Servers per request (Nova multi-create, ``min_count`` =
                ``max_count`` = batch); 1 = one request per server.

        Returns:
            The server ids.

        Raises:
            LocalNovaError: A server went to ERROR or the timeout expired.
        """
        conn = self.conn
        ids: list[str] = []
        if batch < 1:
            raise ValueError("batch must be >= 1")
        for k, start in enumerate(range(0, n, batch)):
            count = min(batch, n - start)
            attrs: dict[str, Any] = {
                "name": f"{name_prefix}-{start + 1}" if batch == 1 else f"{name_prefix}-b{k + 1}",
                "image_id": DEFAULT_IMAGE,
                "flavor_id": DEFAULT_FLAVOR,
                "networks": "none",
            }
            if hosts:
                attrs["availability_zone"] = f"nova:{hosts[k % len(hosts)]}"
            if batch == 1:
                ids.append(conn.compute.create_server(**attrs).id)
                continue
            first = conn.compute.create_server(min_count=count, max_count=count, **attrs)
            reservation = conn.compute.get_server(first.id).reservation_id
            members = [s.id for s in conn.compute.servers(reservation_id=reservation)]
            if len(members) != count:
                raise LocalNovaError(f"multi-create {reservation}: {len(members)} servers, expected {count}")
            ids.extend(sorted(members, key=lambda sid: sid != first.id))
        if wait:
            for sid in ids:
                self.wait_server(sid, "ACTIVE", timeout=timeout)
        return ids

    def wait_server(
        self,
        server_id: str,
        status: str = "ACTIVE",
        *,
        host: str | None = None,
        timeout: float = 60.0,
        interval: float = 0.1,
    ) -> Any:
        """Poll until a server has ``status`` (and ``host`` if given).

        Returns:
            The openstacksdk Server.

        Raises:
            LocalNovaError: On ERROR (unless waited for) or timeout.
        """
        deadline = time.monotonic() + timeout
        server = None
        while True:
            server = self.conn.compute.get_server(server_id)
            if server.status == status and (host is None or server.compute_host == host):
                return server
            if server.status == "ERROR" and status != "ERROR":
                raise LocalNovaError(f"server {server_id} is ERROR: {getattr(server, 'fault', None)}")
            if time.monotonic() > deadline:
                raise LocalNovaError(
                    f"server {server_id} not {status}"
                    f"{' on ' + host if host else ''} after {timeout}s "
                    f"(status {server.status}, host {server.compute_host})"
                )
            time.sleep(interval)

    def delete_all_servers(self, timeout: float = 60.0) -> None:
        """Delete every server and wait until they are gone."""
        conn = self.conn
        ids = [s.id for s in conn.compute.servers(all_projects=True)]
        for sid in ids:
            conn.compute.delete_server(sid, ignore_missing=True)
        deadline = time.monotonic() + timeout
        while ids and time.monotonic() < deadline:
            ids = [s.id for s in conn.compute.servers(all_projects=True)]
            if ids:
                time.sleep(0.1)
        if ids:
            raise LocalNovaError(f"servers not deleted: {ids}")

    # -- lifecycle ----------------------------------------------------------

    @property
    def alive(self) -> bool:
        """Whether the subprocess is still running."""
        return self.process.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        """Last lines of the cloud's stderr log."""
        return _tail(self.log_path, lines)

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM the cloud, wait, SIGKILL if needed; remove temp files.

        Returns:
            The subprocess exit status.
        """
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:  # noqa: BLE001 - best effort
                pass
            self._conn = None
        proc = self.process
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        if self._reader is not None:
            # It ends at EOF now that the process is gone.
            self._reader.join(5)
        if proc.stdout is not None and (self._reader is None or not self._reader.is_alive()):
            proc.stdout.close()
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None
        return proc.returncode


def _tail(path: Path, lines: int) -> str:
    try:
        with open(path, errors="replace") as fh:
            return "".join(collections.deque(fh, maxlen=lines))
    except OSError:
        return ""


class LocalNova:
    """Context manager running ``python -m localnova up`` in a subprocess.

    Args:
        hosts: Compute host names.
        servers: Servers to boot at start (round-robin over hosts).
        live_migration_seconds, cold_migration_seconds,
        live_migration_fail_hosts, cold_migration_fail_hosts,
        live_migration_mib_per_second, live_migration_prepare_seconds,
        live_migration_stall_hosts, live_migration_stall_servers,
        fault_500_rate, fault_503_rate, fault_drop_rate,
        fault_lost_response_rate, latency_ms,
        fault_methods, max_concurrent_live_migrations: Start-up knobs (see :class:`localnova.knobs.Knobs`).
        keystone: Run a real keystone (``keystone==30.0.0``, a child of the
            cloud process) with real keystonemiddleware in Nova; clouds.yaml
            gets a ``password`` entry (``auth`` is then ignored).
        auth: ``"token"`` (admin_token) or ``"none"``.
        port: TCP port, 0 = any free port.
        clouds_yaml: Where to write clouds.yaml (default: a temp dir that is
            removed on stop).
        start_timeout: Seconds to wait for READY.
        debug: Nova DEBUG logging in the log file.
        python: Interpreter to run the cloud with.
    """

    def __init__(
        self,
        hosts: Iterable[str] = ("host1", "host2", "host3"),
        servers: int = 0,
        *,
        live_migration_seconds: float = 0.0,
        cold_migration_seconds: float = 0.0,
        live_migration_fail_hosts: Iterable[str] = (),
        cold_migration_fail_hosts: Iterable[str] = (),
        live_migration_mib_per_second: float = 0.0,
        live_migration_prepare_seconds: float = 0.0,
        live_migration_stall_hosts: Iterable[str] = (),
        live_migration_stall_servers: Iterable[str] = (),
        fault_500_rate: float = 0.0,
        fault_503_rate: float = 0.0,
        fault_drop_rate: float = 0.0,
        fault_lost_response_rate: float = 0.0,
        latency_ms: float = 0.0,
        fault_methods: Iterable[str] = (),
        max_concurrent_live_migrations: int = 0,
        keystone: bool = False,
        auth: str = "token",
        port: int = 0,
        clouds_yaml: str | Path | None = None,
        start_timeout: float = 180.0,
        debug: bool = False,
        python: str = sys.executable,
    ) -> None:
        self.hosts = list(hosts)
        self.servers = servers
        self.knobs = knobs_mod.validate(
            {
                "live_migration_seconds": live_migration_seconds,
                "cold_migration_seconds": cold_migration_seconds,
                "live_migration_fail_hosts": list(live_migration_fail_hosts),
                "cold_migration_fail_hosts": list(cold_migration_fail_hosts),
                "live_migration_mib_per_second": live_migration_mib_per_second,
                "live_migration_prepare_seconds": live_migration_prepare_seconds,
                "live_migration_stall_hosts": list(live_migration_stall_hosts),
                "live_migration_stall_servers": list(live_migration_stall_servers),
                "fault_500_rate": fault_500_rate,
                "fault_503_rate": fault_503_rate,
                "fault_drop_rate": fault_drop_rate,
                "fault_lost_response_rate": fault_lost_response_rate,
                "latency_ms": latency_ms,
                "fault_methods": list(fault_methods),
                "max_concurrent_live_migrations": max_concurrent_live_migrations,
            }
        )
        self.keystone = keystone
        self.auth = auth
        self.port = port
        self.clouds_yaml = Path(clouds_yaml) if clouds_yaml else None
        self.start_timeout = start_timeout
        self.debug = debug
        self.python = python
        self.handle: LocalNovaHandle | None = None
        self._reader: threading.Thread | None = None

    def _command(self, clouds_yaml: Path) -> list[str]:
        cmd = [
            self.python,
            "-m",
            "localnova",
            "up",
            "--hosts",
            ",".join(self.hosts),
            "--port",
            str(self.port),
            "--servers",
            str(self.servers),
            "--clouds-yaml",
            str(clouds_yaml),
            "--cloud-name",
            CLOUD_NAME,
            "--auth",
            self.auth,
        ]
        if self.keystone:
            cmd.append("--keystone")
        if self.debug:
            cmd.append("--debug")
        for name, value in self.knobs.items():
            flag = "--" + name.replace("_", "-")
            if isinstance(value, list):
                if value:
                    cmd += [flag, ",".join(value)]
            else:
                cmd += [flag, repr(value)]
        return cmd

    def start(self) -> LocalNovaHandle:
        """Start the subprocess and wait for READY.

        Raises:
            LocalNovaError: If it exits or does not get ready in time; the
                message carries the tail of its stderr.
        """
        workdir = Path(tempfile.mkdtemp(prefix="localnova-harness-"))
        clouds_yaml = self.clouds_yaml or workdir / "clouds.yaml"
        log_path = workdir / "localnova.log"
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            [str(_REPO_ROOT)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
        )
        env["PYTHONUNBUFFERED"] = "1"
        log = open(log_path, "wb")
        try:
            proc = subprocess.Popen(
                self._command(clouds_yaml),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=log,
                env=env,
                cwd=str(workdir),
                preexec_fn=set_pdeathsig,
            )
        finally:
            log.close()  # the child holds its own descriptor

        try:
            endpoint = self._wait_ready(proc, log_path)
        except BaseException:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
            shutil.rmtree(workdir, ignore_errors=True)
            raise
        self.handle = LocalNovaHandle(
            endpoint=endpoint,
            clouds_yaml=clouds_yaml,
            cloud_name=CLOUD_NAME,
            hosts=self.hosts,
            process=proc,
            log_path=log_path,
            workdir=workdir,
            initial_knobs=self.knobs,
        )
        self.handle._reader = self._reader
        return self.handle

    def _wait_ready(self, proc: subprocess.Popen, log_path: Path) -> str:
        result: dict[str, str] = {}
        got_line = threading.Event()

        def reader() -> None:
            assert proc.stdout is not None
            for raw in proc.stdout:
                line = raw.decode(errors="replace").strip()
                if line.startswith("READY ") and "endpoint" not in result:
                    result["endpoint"] = line.split(" ", 1)[1]
                    got_line.set()
            got_line.set()  # EOF: the process is gone

        self._reader = threading.Thread(target=reader, name="localnova-stdout", daemon=True)
        self._reader.start()
        got_line.wait(self.start_timeout)
        if "endpoint" in result:
            return result["endpoint"]
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
            why = f"not READY after {self.start_timeout}s"
        else:
            why = f"exited with status {proc.returncode}"
        raise LocalNovaError(f"localnova {why}; stderr tail:\n{_tail(log_path, 40)}")

    def stop(self) -> None:
        """Stop the cloud if it was started."""
        if self.handle is not None:
            self.handle.stop()
            self.handle = None

    def __enter__(self) -> LocalNovaHandle:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

"""A real keystone (``keystone==30.0.0``, sqlite) for ``--keystone`` mode.

Two halves:

* :class:`KeystoneProcess` (parent side, imports no keystone code): starts
  ``python -m localnova.identity`` with ``PR_SET_PDEATHSIG``, hands it the
  passwords on stdin (never on the command line, never logged), waits for
  its ``LISTEN`` / ``READY <auth_url>`` lines without blocking an eventlet
  hub, and stops it.
* :func:`main` (the child): in a private temp dir, writes ``keystone.conf``
  (sqlite file DB, fernet tokens), runs the DB migrations
  (``keystone-manage db_sync``), creates the fernet / credential key
  repositories (``fernet_setup`` / ``credential_setup``), bootstraps
  (``keystone-manage bootstrap``: admin user / project / roles, region,
  identity endpoints), adds the ``service`` project with a ``nova`` service
  user (role ``service``) and the ``compute`` service with its endpoints,
  then serves keystone's Flask WSGI application on 127.0.0.1 with a threaded
  ``wsgiref`` server.  SIGTERM / SIGINT (also sent by the kernel when the
  parent dies) stop the server and remove the temp dir.

Child protocol: stdin carries one JSON object ``{"admin_password": ...,
"service_password": ...}``; stdout carries two lines, ``LISTEN
http://127.0.0.1:PORT/v3`` as soon as the socket is bound (connections queue
until it serves) and ``READY http://127.0.0.1:PORT/v3`` once keystone serves;
logs go to stderr.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from localnova.harness import set_pdeathsig

#: Names created at bootstrap (the passwords are random, per run).
ADMIN_USER = "admin"
ADMIN_PROJECT = "admin"
SERVICE_PROJECT = "service"
SERVICE_USER = "nova"
DOMAIN = "Default"
REGION = "RegionOne"
_REPO_ROOT = Path(__file__).resolve().parent.parent


class KeystoneError(RuntimeError):
    """The keystone subprocess failed to start."""


@dataclasses.dataclass(frozen=True)
class KeystoneAuth:
    """What Nova's API (keystonemiddleware) and clients need to know.

    Attributes:
        auth_url: Identity v3 URL, e.g. ``http://127.0.0.1:35357/v3``.
        admin_password: Password of :data:`ADMIN_USER` (project
            :data:`ADMIN_PROJECT`, role admin).
        service_password: Password of :data:`SERVICE_USER` (project
            :data:`SERVICE_PROJECT`, role service).
    """

    auth_url: str
    admin_password: str = dataclasses.field(repr=False)
    service_password: str = dataclasses.field(repr=False)

    username: str = ADMIN_USER
    project_name: str = ADMIN_PROJECT

    def authtoken_options(self) -> dict[str, Any]:
        """``[keystone_authtoken]`` options of keystonemiddleware itself.

        Read when Nova's API pipeline is loaded.
        """
        return {
            "www_authenticate_uri": self.auth_url,
            "auth_type": "password",
            "interface": "public",
            "region_name": REGION,
            "service_token_roles_required": True,
        }

    def authtoken_plugin_options(self) -> dict[str, Any]:
        """``[keystone_authtoken]`` options of its ``password`` auth plugin.

        Registered by keystonemiddleware only when it loads, and
        ``auth_url`` is ``required``: set them after Nova's config is parsed
        and before the API pipeline loads.
        """
        return {
            "auth_url": self.auth_url,
            "username": SERVICE_USER,
            "password": self.service_password,
            "project_name": SERVICE_PROJECT,
            "user_domain_name": DOMAIN,
            "project_domain_name": DOMAIN,
        }

    def admin_credentials(self) -> dict[str, Any]:
        """keystoneauth ``password`` plugin arguments of the admin user."""
        return {
            "auth_url": self.auth_url,
            "username": ADMIN_USER,
            "password": self.admin_password,
            "project_name": ADMIN_PROJECT,
            "user_domain_name": DOMAIN,
            "project_domain_name": DOMAIN,
        }


# -- parent side -----------------------------------------------------------------


class KeystoneProcess:
    """``python -m localnova.identity`` as a child process.

    Args:
        compute_url: Compute endpoint to put in the catalog (public,
            internal and admin), e.g. ``http://127.0.0.1:8774/v2.1``.
        admin_password: Password of the ``admin`` user (admin role on the
            ``admin`` project).
        service_password: Password of the ``nova`` service user
            (keystonemiddleware in Nova validates tokens with it).
        port: TCP port on 127.0.0.1 (0 = any free port).
        debug: Keystone logs at DEBUG (default WARNING) on stderr.
        python: Interpreter.
        extra_services: More catalog entries, ``(service_type, url)`` each
            (e.g. ``("placement", ".../placement")``, ``("infra-optim", ...)``
            for a watcher-api beside the cloud); the service is named after
            its type.
    """

    def __init__(
        self,
        compute_url: str,
        admin_password: str,
        service_password: str,
        port: int = 0,
        debug: bool = False,
        python: str = sys.executable,
        extra_services: Sequence[tuple[str, str]] = (),
    ) -> None:
        self.compute_url = compute_url
        self.extra_services = tuple(extra_services)
        self._secrets = {"admin_password": admin_password, "service_password": service_password}
        self.port = port
        self.debug = debug
        self.python = python
        self.process: subprocess.Popen | None = None
        self.auth_url: str | None = None
        self._buffer = b""

    def start(self) -> None:
        """Spawn the child (returns at once; see :meth:`wait_ready`)."""
        cmd = [self.python, "-m", "localnova.identity", "--compute-url", self.compute_url, "--port", str(self.port)]
        if self.debug:
            cmd.append("--debug")
        for service_type, url in self.extra_services:
            cmd += ["--service", f"{service_type}={url}"]
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            [str(_REPO_ROOT)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
        )
        # Keystone needs no eventlet; keep Nova's switch out of its way.
        env.pop("OS_NOVA_DISABLE_EVENTLET_PATCHING", None)
        self.process = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=None,  # inherited: keystone's log lands in ours
            env=env,
            preexec_fn=set_pdeathsig,
            close_fds=True,
            # Out of the terminal's process group: a Ctrl-C reaches the
            # parent only, which then stops keystone after Nova.
            start_new_session=True,
        )
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps(self._secrets).encode() + b"\n")
        self.process.stdin.close()
        os.set_blocking(self.process.stdout.fileno(), False)

    def _poll(self, prefix: str) -> str | None:
        """Non-blocking: the value of the first ``<prefix> <value>`` line."""
        assert self.process is not None and self.process.stdout is not None
        fd = self.process.stdout.fileno()
        # select() first: under eventlet, os.read() on an empty pipe waits
        # for data instead of raising BlockingIOError.
        while select.select([fd], [], [], 0)[0]:
            try:
                chunk = os.read(fd, 4096)
            except BlockingIOError:
                break
            if not chunk:  # EOF
                break
            self._buffer += chunk
        for line in self._buffer.decode(errors="replace").splitlines():
            if line.startswith(prefix + " "):
                return line.split(" ", 1)[1].strip()
        if self.process.poll() is not None:
            raise KeystoneError(f"keystone exited with status {self.process.returncode} (see its log above)")
        return None

    def _wait(self, prefix: str, timeout: float, sleep: Callable[[float], Any]) -> str:
        deadline = time.monotonic() + timeout
        while True:
            value = self._poll(prefix)
            if value is not None:
                return value
            if time.monotonic() > deadline:
                raise KeystoneError(f"keystone: no {prefix} line after {timeout}s")
            sleep(0.05)

    def wait_listening(self, timeout: float = 60.0, sleep: Callable[[float], Any] = time.sleep) -> str:
        """Wait until the child has bound its socket (it is not serving yet).

        ``sleep`` lets an eventlet caller yield.

        Returns:
            The auth URL, e.g. ``http://127.0.0.1:35357/v3``.

        Raises:
            KeystoneError: If the child exits or the timeout expires.
        """
        self.auth_url = self._wait("LISTEN", timeout, sleep)
        return self.auth_url

    def wait_ready(self, timeout: float = 120.0, sleep: Callable[[float], Any] = time.sleep) -> str:
        """Wait until keystone is set up and serving; return the auth URL.

        Raises:
            KeystoneError: If the child exits or the timeout expires.
        """
        self.auth_url = self._wait("READY", timeout, sleep)
        return self.auth_url

    def credentials(self) -> KeystoneAuth:
        """URL and passwords for Nova and clients (after :meth:`wait_listening`)."""
        assert self.auth_url is not None, "wait_listening() first"
        return KeystoneAuth(self.auth_url, **self._secrets)

    def terminate(self) -> None:
        """Send SIGTERM without waiting (see :meth:`stop`)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def stop(self, timeout: float = 15.0, sleep: Callable[[float], Any] = time.sleep) -> int | None:
        """SIGTERM the child (SIGKILL after ``timeout``); return its status."""
        proc = self.process
        if proc is None:
            return None
        if proc.poll() is None:
            self.terminate()
            deadline = time.monotonic() + timeout
            while proc.poll() is None and time.monotonic() < deadline:
                sleep(0.05)
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()
        return proc.returncode


# -- child side ------------------------------------------------------------------


_CONF_TEMPLATE = """\
[DEFAULT]
debug = {debug}
use_stderr = true

[database]
connection = sqlite:///{workdir}/keystone.db
sqlite_synchronous = false

[token]
provider = fernet
expiration = 43200

[fernet_tokens]
key_repository = {workdir}/fernet-keys

[fernet_receipts]
key_repository = {workdir}/fernet-receipts

[credential]
key_repository = {workdir}/credential-keys

[identity]
max_password_length = 72
# Minimum bcrypt cost: a dev cloud does not need slow password hashing,
# and every password login (client and Nova's service user) pays it.
password_hash_algorithm = bcrypt
password_hash_rounds = 4

[cache]
enabled = false
"""


def _write_conf(workdir: Path, debug: bool) -> Path:
    path = workdir / "keystone.conf"
    path.write_text(_CONF_TEMPLATE.format(workdir=workdir, debug=str(debug).lower()))
    os.chmod(path, 0o600)
    return path


def _setup(
    conf_file: Path,
    auth_url: str,
    services: Sequence[tuple[str, str]],
    secrets: dict[str, str],
    debug: bool,
) -> Any:
    """Configure keystone, build its database and keys; return the WSGI app."""
    import logging
    import uuid

    import keystone.conf
    from keystone.cmd import bootstrap
    from keystone.common import fernet_utils, provider_api, sql
    from keystone.common.sql import upgrades
    from keystone.credential.providers import fernet as credential_fernet
    from keystone.server.flask import application, core

    conf = keystone.conf.CONF
    # keystone.server.configure() without reading sys.argv.
    keystone.conf.configure()
    sql.initialize()
    keystone.conf.set_config_defaults()
    conf(args=[], project="keystone", default_config_files=[str(conf_file)])
    keystone.conf.setup_logging()
    root = logging.getLogger()
    root.setLevel(logging.DEBUG if debug else logging.WARNING)

    # keystone-manage db_sync
    upgrades.offline_sync_database_to_version()
    # keystone-manage fernet_setup / credential_setup
    for group, max_keys in (
        ("fernet_tokens", conf.fernet_tokens.max_active_keys),
        ("fernet_receipts", conf.fernet_receipts.max_active_keys),
        ("credential", credential_fernet.MAX_ACTIVE_KEYS),
    ):
        futils = fernet_utils.FernetUtils(getattr(conf, group).key_repository, max_keys, group)
        futils.create_key_directory()
        if futils.validate_key_repository(requires_write=True):
            futils.initialize_key_repository()

    # keystone-manage bootstrap (loads the backends)
    boot = bootstrap.Bootstrapper()
    boot.admin_username = ADMIN_USER
    boot.admin_password = secrets["admin_password"]
    boot.project_name = ADMIN_PROJECT
    boot.admin_role_name = "admin"
    boot.service_name = "keystone"
    boot.public_url = boot.internal_url = boot.admin_url = auth_url
    boot.region_id = REGION
    boot.immutable_roles = True
    boot.bootstrap()

    providers = provider_api.ProviderAPIs
    domain_id = boot.default_domain_id
    project_id = uuid.uuid4().hex
    providers.resource_api.create_project(
        project_id,
        {"id": project_id, "name": SERVICE_PROJECT, "domain_id": domain_id, "enabled": True, "description": "services"},
    )
    user = providers.identity_api.create_user(
        {"name": SERVICE_USER, "domain_id": domain_id, "enabled": True, "password": secrets["service_password"]}
    )
    providers.assignment_api.add_role_to_user_and_project(user["id"], project_id, boot.service_role_id)
    for service_type, url in services:
        service_id = uuid.uuid4().hex
        name = "nova" if service_type == "compute" else service_type
        providers.catalog_api.create_service(
            service_id, {"id": service_id, "name": name, "type": service_type, "enabled": True}
        )
        for interface in ("public", "internal", "admin"):
            endpoint_id = uuid.uuid4().hex
            providers.catalog_api.create_endpoint(
                endpoint_id,
                {
                    "id": endpoint_id,
                    "interface": interface,
                    "url": url,
                    "service_id": service_id,
                    "region_id": REGION,
                    "enabled": True,
                },
            )

    app = application.application_factory("public")
    return core.setup_app_middleware(app)


def _make_server(port: int) -> Any:
    """A threaded wsgiref server bound to 127.0.0.1 (not serving yet)."""
    import socketserver
    from wsgiref import simple_server

    class Handler(simple_server.WSGIRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            """No access log."""

    class Server(socketserver.ThreadingMixIn, simple_server.WSGIServer):
        daemon_threads = True
        allow_reuse_address = True
        request_queue_size = 128

    return simple_server.make_server(  # type: ignore[call-overload]  # the app is set later
        "127.0.0.1",
        port,
        None,
        server_class=Server,
        handler_class=Handler,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Child entry point (``python -m localnova.identity``)."""
    import shutil
    import tempfile
    import threading
    import warnings

    parser = argparse.ArgumentParser(prog="python -m localnova.identity", description=__doc__)
    parser.add_argument("--compute-url", required=True, help="compute endpoint for the catalog")
    parser.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0 = any)")
    parser.add_argument("--debug", action="store_true")
    parser.add_argument(
        "--service", action="append", default=[], metavar="TYPE=URL", help="another catalog entry (repeatable)"
    )
    args = parser.parse_args(argv)
    services: list[tuple[str, str]] = [("compute", args.compute_url)]
    for item in args.service:
        service_type, _, url = item.partition("=")
        services.append((service_type, url))

    if not args.debug:
        # Import-time deprecation chatter (eventlet via oslo.service, pycadf).
        warnings.simplefilter("ignore")
    # Only the LISTEN/READY lines go to stdout (oslo.log may default to it).
    ready_out = sys.stdout
    sys.stdout = sys.stderr
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    secrets = json.loads(sys.stdin.readline())
    workdir = Path(tempfile.mkdtemp(prefix="localnova-keystone-"))
    server = None
    status = 0
    try:
        os.chmod(workdir, 0o700)
        conf_file = _write_conf(workdir, args.debug)
        server = _make_server(args.port)
        auth_url = f"http://127.0.0.1:{server.server_port}/v3"
        # The parent configures Nova with the URL while we set up.
        ready_out.write(f"LISTEN {auth_url}\n")
        ready_out.flush()
        server.set_app(_setup(conf_file, auth_url, services, secrets, args.debug))
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        thread.start()
        if not stop.is_set():
            ready_out.write(f"READY {auth_url}\n")
            ready_out.flush()
        while not stop.wait(0.2):
            pass
    except BaseException as exc:  # noqa: BLE001 - report, clean up, exit 3
        import traceback

        traceback.print_exception(exc, file=sys.stderr)
        status = 3
    finally:
        if server is not None:
            if status == 0:
                server.shutdown()  # serve_forever is running
            server.server_close()
        shutil.rmtree(workdir, ignore_errors=True)
        sys.stderr.flush()
    os._exit(status)


if __name__ == "__main__":
    raise SystemExit(main())

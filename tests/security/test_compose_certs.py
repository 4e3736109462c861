"""scripts/compose-certs makes a CA and certificates with which mutual TLS really works.

The script runs for real (openssl) into a temporary directory; then a TLS
server holding Temporal's server certificate and requiring client
certificates (as the compose frontend does) accepts the worker's certificate
and refuses a client without one. The environment the compose file gives the
worker loads into the client's TLS settings.
"""

from __future__ import annotations

import shutil
import socket
import ssl
import stat
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest

from watcher_temporal.config import TemporalSettings

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed")


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("compose") / "certs"
    run = subprocess.run(
        ["bash", str(REPO / "scripts" / "compose-certs"), str(target)], capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stderr
    return target


def test_files_permissions_and_no_overwrite(certs: Path) -> None:
    assert {p.name for p in certs.iterdir()} == {
        f"{n}.{e}" for n in ("ca", "server", "worker", "ui", "operator") for e in ("pem", "key")
    }
    assert stat.S_IMODE(certs.stat().st_mode) == 0o700, "other users cannot reach the keys"
    assert stat.S_IMODE((certs / "ca.key").stat().st_mode) == 0o600
    again = subprocess.run(
        ["bash", str(REPO / "scripts" / "compose-certs"), str(certs)], capture_output=True, text=True
    )
    assert again.returncode == 1 and "exists" in again.stderr


def _handshake(certs: Path, client_cert: str | None) -> str:
    """One mutual-TLS handshake on 127.0.0.1; returns the client CN the server saw, or the error."""
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=certs / "ca.pem")
    server_ctx.load_cert_chain(certs / "server.pem", certs / "server.key")
    server_ctx.verify_mode = ssl.CERT_REQUIRED
    client_ctx = ssl.create_default_context(cafile=certs / "ca.pem")
    if client_cert:
        client_ctx.load_cert_chain(certs / f"{client_cert}.pem", certs / f"{client_cert}.key")
    seen: list[str] = []
    with socket.create_server(("127.0.0.1", 0)) as listener:

        def serve() -> None:
            conn, _ = listener.accept()
            try:
                with server_ctx.wrap_socket(conn, server_side=True) as tls:
                    peer: Any = tls.getpeercert()
                    subject = {name: value for [(name, value)] in peer["subject"]}
                    seen.append(str(subject["commonName"]))
                    tls.sendall(b"ok")
            except (ssl.SSLError, OSError) as err:
                seen.append(f"refused: {type(err).__name__}")

        thread = threading.Thread(target=serve)
        thread.start()
        try:
            with socket.create_connection(listener.getsockname(), timeout=10) as raw:
                with client_ctx.wrap_socket(raw, server_hostname="temporal") as tls:
                    tls.recv(2)
        except (ssl.SSLError, OSError):
            pass
        thread.join(timeout=10)
    return seen[0]


def test_frontend_accepts_client_certificates_and_refuses_clients_without(certs: Path) -> None:
    assert _handshake(certs, "worker") == "watcher-temporal-worker"
    assert _handshake(certs, "ui") == "temporal-ui"
    assert _handshake(certs, "operator") == "watcher-temporal-operator"
    assert _handshake(certs, None).startswith("refused")


def test_the_workers_compose_environment_loads_into_client_tls(certs: Path) -> None:
    settings = TemporalSettings.from_env(
        {
            "TEMPORAL_ADDRESS": "temporal:7233",
            "TEMPORAL_TLS_CLIENT_CERT_PATH": str(certs / "worker.pem"),
            "TEMPORAL_TLS_CLIENT_KEY_PATH": str(certs / "worker.key"),
            "TEMPORAL_TLS_SERVER_CA_CERT_PATH": str(certs / "ca.pem"),
            "TEMPORAL_TLS_SERVER_NAME": "temporal",
        }
    )
    tls = settings.connect["tls"]
    assert tls.domain == "temporal"
    assert tls.client_cert == (certs / "worker.pem").read_bytes()
    assert tls.server_root_ca_cert == (certs / "ca.pem").read_bytes()

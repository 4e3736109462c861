"""The codec server authenticates every call, allows only configured origins and validates requests.

Real HTTP on 127.0.0.1 (a server thread per test module), raw ``http.client``
so malformed requests reach the server as sent.
"""

from __future__ import annotations

import base64
import http.client
import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from watcher_temporal.codec import AesGcmCodec
from watcher_temporal.codec_server import CodecServerSettings, make_server
from watcher_temporal.codec_server_auth import AuthConfigError, CodecServerAuth, OidcSettings

KEY = bytes(range(32))
TOKEN = "codec-token-4f1e9a0c7b2d4e6f8a9b"
UI = "http://localhost:8080"
ISSUER, AUDIENCE = "https://idp.example", "temporal-ui"
PLAIN: dict[str, Any] = {
    "metadata": {"encoding": base64.b64encode(b"json/plain").decode()},
    "data": base64.b64encode(b'"db-07"').decode(),
}
BODY = json.dumps({"payloads": [PLAIN]}).encode()


@pytest.fixture(scope="module")
def signing_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, signing_key: rsa.RSAPrivateKey) -> Iterator[tuple[str, int]]:
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(signing_key.public_key()))
    jwks = tmp_path_factory.mktemp("oidc") / "jwks.json"
    jwks.write_text(json.dumps({"keys": [{**jwk, "kid": "k1", "use": "sig", "alg": "RS256"}]}))
    settings = CodecServerSettings(
        port=0,
        auth=CodecServerAuth(tokens=(TOKEN,), oidc=OidcSettings(issuer=ISSUER, audience=AUDIENCE, jwks=str(jwks))),
        origins=(UI,),
        max_body_bytes=64 * 1024,
        read_timeout_seconds=0.5,
    )
    httpd = make_server(AesGcmCodec(KEY), settings)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield str(httpd.server_address[0]), int(httpd.server_address[1])
    httpd.shutdown()
    httpd.server_close()


def request(
    server: tuple[str, int], method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], Any]:
    connection = http.client.HTTPConnection(*server, timeout=10)
    try:
        connection.putrequest(method, path, skip_accept_encoding=True)
        for name, value in (headers or {}).items():
            connection.putheader(name, value)
        connection.endheaders(body or None)
        response = connection.getresponse()
        text = response.read()
        return response.status, dict(response.headers), json.loads(text) if text else None
    finally:
        connection.close()


def post(server: tuple[str, int], path: str, token: str | None, **headers: str) -> tuple[int, dict[str, str], Any]:
    sent = {"Content-Type": "application/json", "Content-Length": str(len(BODY)), **headers}
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    return request(server, "POST", path, BODY, sent)


@pytest.mark.parametrize("path", ["/decode", "/encode", "/default/decode"])
def test_no_or_wrong_credentials_get_401(server: tuple[str, int], path: str) -> None:
    for token in (None, "", TOKEN[:-1], TOKEN + "x", "codec-token-wrong-wrong-wrong"):
        status, headers, body = post(server, path, token)
        assert status == 401, (token, body)
        assert headers["WWW-Authenticate"].startswith("Bearer") and "payloads" not in body
    status, _, _ = request(
        server, "POST", path, BODY, {"Authorization": f"Basic {TOKEN}", "Content-Length": str(len(BODY))}
    )
    assert status == 401


def test_the_right_token_encodes_and_decodes(server: tuple[str, int]) -> None:
    status, _, encoded = post(server, "/encode", TOKEN)
    assert status == 200 and encoded["payloads"][0]["metadata"]["encoding"] != PLAIN["metadata"]["encoding"]
    body = json.dumps(encoded).encode()
    status, _, decoded = request(
        server,
        "POST",
        "/default/decode",
        body,
        {"Authorization": f"bearer {TOKEN}", "Content-Length": str(len(body))},
    )
    assert status == 200 and decoded == {"payloads": [PLAIN]}


def _jwt(key: rsa.RSAPrivateKey, **claims: Any) -> str:
    now = int(time.time())
    payload = {"iss": ISSUER, "aud": AUDIENCE, "sub": "alice", "iat": now, "exp": now + 300, **claims}
    return jwt.encode(payload, key, algorithm="RS256", headers={"kid": "k1"})


def test_the_web_uis_oidc_token_is_verified(server: tuple[str, int], signing_key: rsa.RSAPrivateKey) -> None:
    assert post(server, "/decode", _jwt(signing_key))[0] == 200
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    for refused in (
        _jwt(signing_key, exp=int(time.time()) - 60),
        _jwt(signing_key, aud="another-app"),
        _jwt(signing_key, iss="https://evil.example"),
        _jwt(other_key),
        jwt.encode(
            {"iss": ISSUER, "aud": AUDIENCE, "exp": int(time.time()) + 60},
            "a-shared-secret-the-server-never-accepts",
            algorithm="HS256",
        ),
    ):
        assert post(server, "/decode", refused)[0] == 401


def test_cors_only_for_configured_origins_never_star(server: tuple[str, int]) -> None:
    preflight = {
        "Origin": UI,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization",
    }
    status, headers, _ = request(server, "OPTIONS", "/decode", headers=preflight)
    assert status == 204 and headers["Access-Control-Allow-Origin"] == UI
    assert (
        headers["Access-Control-Allow-Credentials"] == "true"
        and "Authorization" in headers["Access-Control-Allow-Headers"]
    )

    status, headers, _ = request(server, "OPTIONS", "/decode", headers={**preflight, "Origin": "http://evil.example"})
    assert status == 403 and "Access-Control-Allow-Origin" not in headers
    status, headers, _ = post(server, "/decode", TOKEN, Origin="http://evil.example")
    assert "Access-Control-Allow-Origin" not in headers
    status, headers, _ = post(server, "/decode", TOKEN, Origin=UI)
    assert status == 200 and headers["Access-Control-Allow-Origin"] == UI and headers["Vary"] == "Origin"

    with pytest.raises(AuthConfigError, match=r"'\*' is refused"):
        CodecServerSettings(auth=CodecServerAuth(tokens=(TOKEN,)), origins=("*",))
    with pytest.raises(AuthConfigError, match="is not an origin"):
        CodecServerSettings(auth=CodecServerAuth(tokens=(TOKEN,)), origins=("http://ui.example/path",))


@pytest.mark.parametrize(
    ("length", "status"),
    [(None, 411), ("-1", 400), ("abc", 400), ("1e3", 400), (" ", 400), (str(10**12), 413), ("100", 408)],
)
def test_bad_content_length_is_answered_at_once(server: tuple[str, int], length: str | None, status: int) -> None:
    """Each answered (none leaves a thread stuck); "100" with a 2-byte body times out after 0.5 s."""
    head = f"POST /decode HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
    if length is not None:
        head += f"Content-Length: {length}\r\n"
    with socket.create_connection(server, timeout=10) as sock:
        sock.sendall(head.encode() + b"\r\n{}")
        answer = sock.recv(4096).decode()
    assert answer.startswith(f"HTTP/1.0 {status} "), answer.splitlines()[:1]


@pytest.mark.parametrize(
    "body", [b"not json", b"[1, 2]", b'{"payloads": "x"}', b'{"payloads": [1]}', b'{"payloads": [], "x": 1}', b"\xff"]
)
def test_bodies_must_be_a_payload_list(server: tuple[str, int], body: bytes) -> None:
    status, _, answer = request(
        server, "POST", "/decode", body, {"Authorization": f"Bearer {TOKEN}", "Content-Length": str(len(body))}
    )
    assert status == 400 and "error" in answer


def test_refuses_to_start_without_a_credential_and_binds_localhost() -> None:
    assert CodecServerSettings(auth=CodecServerAuth(tokens=(TOKEN,))).host == "127.0.0.1"
    with pytest.raises(AuthConfigError, match="decrypts for whoever calls it"):
        CodecServerSettings()
    with pytest.raises(AuthConfigError, match="only on a loopback address"):
        CodecServerSettings(host="0.0.0.0", insecure_no_auth=True)
    with pytest.raises(AuthConfigError, match="at least 24 characters"):
        CodecServerAuth(tokens=("short",))
    assert TOKEN not in repr(CodecServerAuth(tokens=(TOKEN,)))
    env = {"PATH": "/usr/bin:/bin", "WATCHER_TEMPORAL_CODEC_KEY": KEY.hex(), "PYTHONPATH": str(Path.cwd())}
    run = subprocess.run(
        [sys.executable, "-m", "watcher_temporal.codec_server", "--port", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2 and "WATCHER_TEMPORAL_CODEC_SERVER_TOKENS" in run.stderr, run.stderr

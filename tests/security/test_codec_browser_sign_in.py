"""A browser signs in at the codec server with a static token; its session cookie then decodes."""

from __future__ import annotations

import base64
import http.client
import json
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest

from watcher_temporal.codec import AesGcmCodec
from watcher_temporal.codec_server import CodecServerSettings, make_server
from watcher_temporal.codec_server_auth import SESSION_COOKIE, Authenticator, BrowserSessions, CodecServerAuth

TOKEN = "browser-token-8c1d2e3f4a5b6c7d8e9f"
UI = "http://localhost:8233"
BODY = json.dumps(
    {"payloads": [{"metadata": {"encoding": base64.b64encode(b"json/plain").decode()}, "data": "ImRiLTA3Ig=="}]}
).encode()


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    settings = CodecServerSettings(port=0, origins=(UI,), auth=CodecServerAuth(tokens=(TOKEN,)))
    server = make_server(AesGcmCodec(bytes(range(32))), settings)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()


def request(port: int, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None) -> Any:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request(method, path, body=body, headers={"Content-Length": str(len(body)), **(headers or {})})
    response = conn.getresponse()
    response.text = response.read().decode()
    conn.close()
    return response


def sign_in(port: int, token: str) -> Any:
    form = urlencode({"token": token}).encode()
    return request(port, "POST", "/login", form, {"Content-Type": "application/x-www-form-urlencoded"})


def test_the_sign_in_page_loads_nothing_and_runs_no_script(port: int) -> None:
    page = request(port, "GET", "/login")
    assert page.status == 200 and "<form" in page.text and "<script" not in page.text
    assert "default-src 'none'" in page.getheader("Content-Security-Policy")
    assert "frame-ancestors 'none'" in page.getheader("Content-Security-Policy")


def test_a_wrong_token_gets_no_cookie_and_says_so(port: int) -> None:
    refused = sign_in(port, "not-the-token-" + "z" * 20)
    assert refused.status == 401 and "token refused" in refused.text.lower()
    assert refused.getheader("Set-Cookie") is None


def test_a_signed_in_browser_decodes_with_its_cookie_and_signs_out(port: int) -> None:
    signed = sign_in(port, TOKEN)
    cookie = signed.getheader("Set-Cookie")
    assert signed.status == 200 and cookie.startswith(f"{SESSION_COOKIE}=")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and TOKEN not in cookie
    session = cookie.split(";", 1)[0]
    headers = {"Origin": UI, "Content-Type": "application/json", "Cookie": session}
    decoded = request(port, "POST", "/decode", BODY, headers)
    assert decoded.status == 200, decoded.text
    assert decoded.getheader("Access-Control-Allow-Origin") == UI
    assert decoded.getheader("Access-Control-Allow-Credentials") == "true"
    assert request(port, "POST", "/decode", BODY, {**headers, "Cookie": f"{SESSION_COOKIE}=forged"}).status == 401
    out = request(port, "POST", "/logout", b"", {"Cookie": session})
    assert "Max-Age=0" in out.getheader("Set-Cookie")
    assert request(port, "POST", "/decode", BODY, headers).status == 401


def test_sessions_expire_and_stay_bounded() -> None:
    sessions = BrowserSessions(Authenticator(CodecServerAuth(tokens=(TOKEN,))), seconds=0)
    session = sessions.login(TOKEN)
    assert session is not None and not sessions.valid(f"{SESSION_COOKIE}={session}")
    assert sessions.login("") is None and sessions.login(f"{TOKEN} x") is None
    lasting = BrowserSessions(Authenticator(CodecServerAuth(tokens=(TOKEN,))))
    ids = [lasting.login(TOKEN) for _ in range(300)]
    assert not lasting.valid(f"{SESSION_COOKIE}={ids[0]}")  # the oldest made room
    assert lasting.valid(f"other=1; {SESSION_COOKIE}={ids[-1]}")

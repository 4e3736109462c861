"""The codec server keeps its 10 s whole-request promise against clients that trickle bytes.

A client that sends one byte every 3 s never trips a per-read timeout; the
server must still close its connection once the request's deadline (the
default 10 s) has passed, whether it is trickling headers without a token or
a body with a valid one, and keep answering everyone else meanwhile. Handler
threads are bounded: one connection too many is answered 503 at once.
"""

from __future__ import annotations

import base64
import http.client
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from watcher_temporal.codec import AesGcmCodec
from watcher_temporal.codec_server import READ_TIMEOUT_SECONDS, BoundedHTTPServer, CodecServerSettings, make_server
from watcher_temporal.codec_server_auth import CodecServerAuth

KEY = bytes(range(32))
TOKEN = "codec-token-slow-clients-5e8d1c"
BODY = json.dumps(
    {
        "payloads": [
            {
                "metadata": {"encoding": base64.b64encode(b"json/plain").decode()},
                "data": base64.b64encode(b'"db-07"').decode(),
            }
        ]
    }
).encode()
#: The trickle: one byte this often.
BYTE_EVERY_SECONDS = 3.0
#: Slack on the deadline for a loaded machine (the trickle alone would last minutes).
SLACK_SECONDS = 5.0
HANDLERS = 4


@pytest.fixture
def server() -> Iterator[BoundedHTTPServer]:
    settings = CodecServerSettings(port=0, auth=CodecServerAuth(tokens=(TOKEN,)), max_handlers=HANDLERS)
    assert settings.read_timeout_seconds == READ_TIMEOUT_SECONDS == 10.0  # the documented promise
    httpd = make_server(AesGcmCodec(KEY), settings)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=10)


@dataclass
class Trickle:
    """Sends ``head`` then ``trickled`` one byte per 3 s; notes when the server closed the connection."""

    port: int
    head: bytes
    trickled: bytes
    closed_after: float | None = None
    answer: bytes = b""
    sent: int = 0

    def run(self) -> None:
        with socket.create_connection(("127.0.0.1", self.port), timeout=BYTE_EVERY_SECONDS) as sock:
            started = time.monotonic()
            sock.sendall(self.head)
            for byte in self.trickled:
                try:
                    sock.sendall(bytes([byte]))
                    self.sent += 1
                    chunk = sock.recv(4096)  # waits up to 3 s: the pause between bytes
                except TimeoutError:
                    continue  # still open: next byte
                except OSError:
                    chunk = b""
                self.answer += chunk
                self.closed_after = time.monotonic() - started
                return


def decode_request(port: int, token: str = TOKEN) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("POST", "/decode", BODY, {"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def test_trickled_headers_and_body_are_cut_at_the_deadline_while_others_are_served(
    server: BoundedHTTPServer,
) -> None:
    port = int(server.server_address[1])
    slow_headers = Trickle(port, b"", b"POST /decode HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n")
    slow_body = Trickle(
        port,
        (
            f"POST /decode HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(BODY)}\r\n\r\n"
        ).encode(),
        BODY,
    )
    threads = [threading.Thread(target=t.run) for t in (slow_headers, slow_body)]
    for thread in threads:
        thread.start()
    served = []
    while any(thread.is_alive() for thread in threads):
        served.append(decode_request(port))  # everyone else is answered meanwhile
        time.sleep(0.5)
    for thread in threads:
        thread.join()

    for trickle in (slow_headers, slow_body):
        assert trickle.closed_after is not None, "the server never closed the trickling connection"
        assert trickle.closed_after <= READ_TIMEOUT_SECONDS + SLACK_SECONDS, trickle
        assert trickle.sent < len(trickle.trickled)  # cut before the request was complete
    assert slow_body.answer.startswith(b"HTTP/1.0 408") or slow_body.answer.startswith(b"HTTP/1.1 408")
    assert served and set(served) == {200}


def test_handler_threads_are_bounded_and_one_too_many_gets_503(server: BoundedHTTPServer) -> None:
    port = int(server.server_address[1])
    idle = threading.active_count()
    holders = [socket.create_connection(("127.0.0.1", port)) for _ in range(HANDLERS)]
    try:
        for sock in holders:
            sock.sendall(b"POST /decode HTTP/1.1\r\n")  # a request that never finishes
        until = time.monotonic() + 5
        while threading.active_count() < idle + HANDLERS:  # each holder has its handler thread
            assert time.monotonic() < until, "the holders were not handed to threads"
            time.sleep(0.05)
        before = threading.active_count()
        with socket.create_connection(("127.0.0.1", port), timeout=5) as extra:
            extra.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            answer = extra.recv(4096)
        assert answer.startswith(b"HTTP/1.1 503"), answer
        assert b"Retry-After: 1" in answer
        assert threading.active_count() == before  # no thread for it
    finally:
        for sock in holders:
            sock.close()

    def served() -> bool:
        try:
            return decode_request(port) == 200
        except OSError:
            return False

    deadline = time.monotonic() + READ_TIMEOUT_SECONDS + SLACK_SECONDS
    while not served():  # the holders' threads end when they see their sockets closed
        assert time.monotonic() < deadline, "no handler came free"
        time.sleep(0.2)

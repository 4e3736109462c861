"""The codec server's HTTP plumbing: a whole-request deadline and a bounded number of handler threads.

The standard library's ``ThreadingHTTPServer`` starts a thread per connection
without limit, and its per-read socket timeout never ends a request that
trickles in one byte at a time; :mod:`watcher_temporal.codec_server` uses
these instead.
"""

from __future__ import annotations

import io
import logging
import socket
import threading
import time
from email.message import Message
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

logger = logging.getLogger("watcher_temporal.codec_server")

#: What a connection gets when every handler is busy (sent without reading its request).
BUSY_ANSWER = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\n"
    b'Connection: close\r\nContent-Length: 42\r\n\r\n{"error": "busy: every handler is in use"}'
)


class RequestError(ValueError):
    """A request refused before decoding; ``status`` is the HTTP answer."""

    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status


class DeadlineReader(io.RawIOBase):
    """A socket's input that ends at a deadline, however slowly the bytes come.

    A per-read socket timeout lets a client that sends one byte every few
    seconds hold a thread forever; here every read waits only for what is left
    of :attr:`deadline` and raises ``TimeoutError`` once it has passed.
    """

    def __init__(self, sock: socket.socket) -> None:
        super().__init__()
        self._sock = sock
        self.deadline = time.monotonic()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the request did not arrive before its deadline")
        self._sock.settimeout(left)
        return self._sock.recv_into(buffer)


class DeadlineRequestHandler(BaseHTTPRequestHandler):
    """A handler whose every request (line, headers, body) must arrive within ``request_seconds``."""

    request_seconds: float = 10.0

    def setup(self) -> None:
        super().setup()
        self._input = DeadlineReader(self.connection)
        self.rfile = io.BufferedReader(self._input)

    def handle_one_request(self) -> None:
        # Each request on the connection (keep-alive too) gets the whole deadline once.
        self._input.deadline = time.monotonic() + self.request_seconds
        super().handle_one_request()

    def answer_within_deadline(self) -> None:
        """Give the answer ``request_seconds`` to be taken (``sendall``'s timeout is a total)."""
        self.connection.settimeout(self.request_seconds)


def read_body(headers: Message, rfile: io.BufferedIOBase, max_body_bytes: int) -> bytes:
    """The request's body, by one ``Content-Length`` of at most ``max_body_bytes``.

    Raises:
        RequestError: chunked, no or several lengths, too large, or cut short.
        TimeoutError: the body did not arrive before the request's deadline.
    """
    if headers.get("Transfer-Encoding"):
        raise RequestError(HTTPStatus.LENGTH_REQUIRED, "chunked bodies are not accepted: send Content-Length")
    values = headers.get_all("Content-Length") or []
    if not values:
        raise RequestError(HTTPStatus.LENGTH_REQUIRED, "Content-Length required")
    text = values[0].strip()
    if len(values) > 1 or not text.isdigit() or not text.isascii():
        raise RequestError(HTTPStatus.BAD_REQUEST, "Content-Length must be one non-negative integer")
    length = int(text)
    if length > max_body_bytes:
        raise RequestError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"body larger than {max_body_bytes} bytes")
    body = rfile.read(length)
    if len(body) != length:
        raise RequestError(HTTPStatus.BAD_REQUEST, "body shorter than Content-Length")
    return body


class BoundedHTTPServer(ThreadingHTTPServer):
    """``ThreadingHTTPServer`` with at most ``max_handlers`` handler threads.

    A connection that finds every handler busy is answered 503 (``Retry-After:
    1``) and closed by the accepting thread, within a second, without reading it.
    """

    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], *, max_handlers: int) -> None:
        super().__init__(address, handler)
        self.max_handlers = max_handlers
        self._slots = threading.BoundedSemaphore(max_handlers)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            logger.warning("busy: %d connections in hand; answered 503 to %s", self.max_handlers, client_address[0])
            try:
                request.settimeout(1.0)
                request.sendall(BUSY_ANSWER)
            except OSError:
                pass
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

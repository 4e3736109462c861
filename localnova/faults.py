"""WSGI middleware injecting transport faults into the Compute API.

It sits between the HTTP server and Nova's paste pipeline, never in front of
``/localnova/*`` (the dispatcher in :mod:`localnova.control` routes those
first), so a test can always switch faults off again.
"""

from __future__ import annotations

import json
import random
import socket
import time
from collections.abc import Callable, Iterable
from typing import Any

from localnova import knobs
from localnova.stats import STATS, RequestStats

#: WSGI environ key under which :mod:`localnova.httpserver` exposes the
#: client socket, needed to drop a connection without answering.
SOCKET_KEY = "localnova.socket"

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict, StartResponse], Iterable[bytes]]


class DropConnection(Exception):
    """Raised after the client socket was closed on purpose."""


class FaultMiddleware:
    """Add latency, HTTP 500/503 or dropped connections at random.

    Args:
        app: The Compute API WSGI application.
        store: Where the fault knobs are read for every request.
        stats: Where injected faults are counted.
        rng: Random source (injectable for deterministic tests).
    """

    def __init__(
        self,
        app: WSGIApp,
        store: knobs.KnobStore = knobs.STORE,
        stats: RequestStats = STATS,
        rng: random.Random | None = None,
    ) -> None:
        self.app = app
        self.store = store
        self.stats = stats
        self.rng = rng or random.Random()

    def __call__(self, environ: dict, start_response: StartResponse) -> Iterable[bytes]:
        current = self.store.get()
        method = environ.get("REQUEST_METHOD", "GET").upper()
        if current.fault_methods and method not in current.fault_methods:
            return self.app(environ, start_response)

        if current.latency_ms > 0:
            time.sleep(current.latency_ms / 1000.0)

        roll = self.rng.random()
        threshold = current.fault_drop_rate
        if roll < threshold:
            self.stats.record_fault("drop")
            self._drop(environ)
            raise DropConnection()
        threshold += current.fault_500_rate
        if roll < threshold:
            self.stats.record_fault("500")
            return _error(start_response, 500, "Internal Server Error")
        threshold += current.fault_503_rate
        if roll < threshold:
            self.stats.record_fault("503")
            return _error(start_response, 503, "Service Unavailable", [("Retry-After", "0")])
        return self.app(environ, start_response)

    @staticmethod
    def _drop(environ: dict) -> None:
        """Close the client socket so the client sees no response at all."""
        # Drain the body first: closing with unread data makes the kernel
        # send RST, and the client would see a reset while still *sending*.
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
            if length:
                environ["wsgi.input"].read(length)
        except Exception:  # noqa: BLE001 - best effort
            pass
        sock = environ.get(SOCKET_KEY)
        if sock is None:
            return
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            sock.close()
        except OSError:
            pass


def _error(
    start_response: StartResponse, code: int, title: str, extra_headers: list[tuple[str, str]] | None = None
) -> list[bytes]:
    """Answer with a Nova-shaped JSON error body."""
    key = "computeFault" if code == 500 else "serviceUnavailable"
    body = json.dumps({key: {"code": code, "message": f"localnova injected fault: HTTP {code}"}}).encode()
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    headers.extend(extra_headers or [])
    start_response(f"{code} {title}", headers)
    return [body]

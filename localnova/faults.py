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
    """Add latency, HTTP 500/503, dropped connections or lost responses.

    A *dropped* request never reaches Nova; a *lost response* reaches Nova
    and runs to completion, then the connection is closed without the
    answer (the client cannot tell whether it was applied).

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
        threshold += current.fault_lost_response_rate
        if roll < threshold:
            self._apply_and_lose(environ)
            self.stats.record_fault("lost")
            self._drop(environ, drain=False)
            raise DropConnection()
        return self.app(environ, start_response)

    def _apply_and_lose(self, environ: dict) -> None:
        """Let Nova handle the request completely, then forget the answer."""

        def discard_start_response(status: str, headers: list, exc_info: Any = None) -> Callable[[bytes], None]:
            return lambda _data: None

        body = self.app(environ, discard_start_response)
        try:
            for _chunk in body:
                pass
        finally:
            close = getattr(body, "close", None)
            if close is not None:
                close()

    @staticmethod
    def _drop(environ: dict, *, drain: bool = True) -> None:
        """Close the client socket so the client sees no response at all.

        Args:
            environ: The WSGI environ of the request.
            drain: Read the request body first (not needed when the
                application already consumed it).
        """
        # Drain the body first: closing with unread data makes the kernel
        # send RST, and the client would see a reset while still *sending*.
        if drain:
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

"""Serve a WSGI app on a real TCP socket with eventlet.wsgi.

The stack runs in eventlet mode (see :mod:`localnova.cloud`), so the
eventlet WSGI server is the natural fit: HTTP/1.1 keep-alive, one green
thread per connection, no OS threads.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable
from typing import Any

import eventlet
import eventlet.greenio
import eventlet.wsgi

from localnova.faults import SOCKET_KEY

LOG = logging.getLogger(__name__)


class _QuietLog:
    """eventlet.wsgi access/error log sink (errors go to debug logging)."""

    def write(self, msg: str) -> None:
        LOG.debug("wsgi: %s", msg.rstrip())

    def info(self, msg: str, *args: Any) -> None:
        LOG.debug("wsgi: " + msg, *args)

    debug = info

    def error(self, msg: str, *args: Any) -> None:
        LOG.debug("wsgi error: " + msg, *args)


class _Protocol(eventlet.wsgi.HttpProtocol):
    """HttpProtocol that exposes the client socket and survives drops."""

    def get_environ(self) -> dict:
        env = super().get_environ()
        # Lets the fault injector close the connection without answering.
        env[SOCKET_KEY] = self.connection
        return env

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        except (OSError, ValueError):
            # The fault injector shut the socket down (or the client went
            # away); there is nobody left to answer.
            self.close_connection = 1


class HTTPServer:
    """A started eventlet WSGI server on 127.0.0.1.

    Args:
        app: The WSGI application.
        host: Address to bind.
        port: TCP port; 0 picks a free one (see :attr:`port`).
        sock: An already bound and listening socket (plain or green) to
            serve on instead; ``host`` and ``port`` are then ignored.
    """

    def __init__(
        self, app: Callable[..., Any], host: str = "127.0.0.1", port: int = 0, sock: socket.socket | None = None
    ) -> None:
        if sock is None:
            self._sock = eventlet.listen((host, port), backlog=256)
        else:
            # A socket bound before eventlet monkey patched ``socket``.
            self._sock = sock if isinstance(sock, eventlet.greenio.GreenSocket) else eventlet.greenio.GreenSocket(sock)
        self.host, self.port = self._sock.getsockname()[:2]
        self._pool = eventlet.GreenPool(2000)
        self._thread = eventlet.spawn(
            eventlet.wsgi.server,
            self._sock,
            app,
            protocol=_Protocol,
            log=_QuietLog(),
            log_output=False,
            debug=False,
            custom_pool=self._pool,
            keepalive=True,
            # Idle keep-alive connections are closed after this, so a
            # forgotten client cannot pin a green thread forever.
            socket_timeout=120,
        )

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:8774``."""
        return f"http://{self.host}:{self.port}"

    def stop(self) -> None:
        """Stop accepting connections (in-flight ones are abandoned)."""
        try:
            self._sock.close()
        except OSError:
            pass
        self._thread.kill()

"""watcher-api as Watcher 17 deploys it: its WSGI application in a WSGI server.

``python -m tests.fullstack.watcher_api --config-file watcher.conf``. Watcher 17's
``watcher-api`` console script uses ``oslo_service.wsgi.Server``, which refuses
the threading backend Watcher now runs on ("deploy your application via
standard WSGI servers instead"); its ``watcher-api-wsgi`` serves one request at
a time. This serves ``watcher.api.wsgi.initialize_wsgi_app()`` (keystonemiddleware
and all, as mod_wsgi or uWSGI would load it) from a threaded ``wsgiref`` server
on ``[api] host``/``port``, until SIGTERM or SIGINT.
"""

from __future__ import annotations

import signal
import socketserver
import sys
import threading
from typing import Any
from wsgiref import simple_server


class _Handler(simple_server.WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Watcher logs its own requests."""


class _Server(socketserver.ThreadingMixIn, simple_server.WSGIServer):
    daemon_threads = True
    allow_reuse_address = True


def main(argv: list[str]) -> int:
    sys.argv[1:] = argv
    # Watcher's command package first: it picks oslo.service's backend before Watcher loads it.
    import watcher.cmd.eventlet  # noqa: F401
    from oslo_config import cfg
    from watcher.api.wsgi import initialize_wsgi_app

    app = initialize_wsgi_app()
    server = simple_server.make_server(
        cfg.CONF.api.host, cfg.CONF.api.port, app, server_class=_Server, handler_class=_Handler
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True).start()
    stop.wait()
    server.shutdown()
    server.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

"""Codec server for the Temporal Web UI and CLI: decrypts payloads for people allowed to.

    WATCHER_TEMPORAL_CODEC_KEY=... python -m watcher_temporal.codec_server --port 8888

Implements Temporal's remote codec protocol: ``POST /decode`` and ``POST
/encode`` (also under a ``/{namespace}/`` prefix) with a body
``{"payloads": [{"metadata": {...base64...}, "data": "...base64..."}]}``,
answered in the same shape; CORS for the Web UI's origin
(``WATCHER_TEMPORAL_CODEC_CORS_ORIGINS``, comma-separated, default
``http://localhost:8233,http://localhost:8080``). Point the UI at it (Settings →
Codec Server, or ``TEMPORAL_CODEC_ENDPOINT``) and the ``temporal`` CLI with
``--codec-endpoint http://localhost:8888``.

The key never leaves this process; run it where only operators can reach it
(it decrypts anything it is sent) and put an authenticating proxy in front of
it outside a lab (``--require-header`` checks the UI's Authorization header is
present, not that it is valid).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
from collections.abc import Sequence
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads

from watcher_temporal.codec import KEY_ENV, KEY_FILE_ENV, AesGcmCodec, CodecKeyError, codec_from_env

CORS_ENV = "WATCHER_TEMPORAL_CODEC_CORS_ORIGINS"
DEFAULT_ORIGINS = ("http://localhost:8233", "http://localhost:8080")
MAX_BODY_BYTES = 16 * 1024 * 1024

logger = logging.getLogger("watcher_temporal.codec_server")


def transform(codec: AesGcmCodec, action: str, body: bytes) -> bytes:
    """Run ``encode``/``decode`` over a JSON ``{"payloads": [...]}`` body.

    Raises:
        ValueError: malformed JSON or payloads.
        CodecKeyError: a payload was encrypted with another key.
    """
    payloads = Payloads()
    json_format.Parse(body or b"{}", payloads)
    run = codec.encode if action == "encode" else codec.decode
    done = asyncio.run(run(list(payloads.payloads)))
    return json_format.MessageToJson(Payloads(payloads=done)).encode()


def make_handler(codec: AesGcmCodec, origins: Sequence[str], require_header: bool) -> type[BaseHTTPRequestHandler]:
    """A request handler class bound to ``codec`` and the allowed origins."""

    class CodecHandler(BaseHTTPRequestHandler):
        server_version = "watcher-temporal-codec"

        def _cors(self) -> None:
            origin = self.headers.get("Origin")
            if origin and ("*" in origins or origin in origins):
                self.send_header("Access-Control-Allow-Origin", origin)
                self.send_header("Vary", "Origin")
                self.send_header("Access-Control-Allow-Methods", "POST, OPTIONS")
                self.send_header("Access-Control-Allow-Headers", "Content-Type, X-Namespace, Authorization")
                self.send_header("Access-Control-Allow-Credentials", "true")

        def _reply(self, status: HTTPStatus, body: bytes, content_type: str = "application/json") -> None:
            self.send_response(status)
            self._cors()
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _error(self, status: HTTPStatus, message: str) -> None:
            self._reply(status, json.dumps({"error": message}).encode())

        def do_OPTIONS(self) -> None:
            self._reply(HTTPStatus.OK, b"", "text/plain")

        def do_GET(self) -> None:
            if self.path.rstrip("/") in ("", "/health"):
                self._reply(HTTPStatus.OK, json.dumps({"status": "ok", "key_id": codec.key_id}).encode())
            else:
                self._error(HTTPStatus.NOT_FOUND, "POST /encode or /decode")

        def do_POST(self) -> None:
            action = self.path.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
            if action not in ("encode", "decode"):
                self._error(HTTPStatus.NOT_FOUND, "POST /encode or /decode")
                return
            if require_header and not self.headers.get("Authorization"):
                self._error(HTTPStatus.UNAUTHORIZED, "Authorization header required")
                return
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY_BYTES:
                self._error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "body too large")
                return
            try:
                body = transform(codec, action, self.rfile.read(length))
            except CodecKeyError as err:
                self._error(HTTPStatus.BAD_REQUEST, str(err))
                return
            except (ValueError, json_format.ParseError) as err:
                self._error(HTTPStatus.BAD_REQUEST, f"malformed payloads: {err}")
                return
            self._reply(HTTPStatus.OK, body)

        def log_message(self, format: str, *args: Any) -> None:
            logger.info("%s %s", self.address_string(), format % args)

    return CodecHandler


def make_server(
    codec: AesGcmCodec, host: str, port: int, *, origins: Sequence[str] = DEFAULT_ORIGINS, require_header: bool = False
) -> ThreadingHTTPServer:
    """A ready (not yet serving) codec server; ``server_address`` has the port."""
    return ThreadingHTTPServer((host, port), make_handler(codec, origins, require_header))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m watcher_temporal.codec_server", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default %(default)s)")
    parser.add_argument("--port", type=int, default=8888, help="port (default %(default)s)")
    parser.add_argument("--require-header", action="store_true", help="refuse requests without Authorization")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        codec = codec_from_env()
    except CodecKeyError as err:
        parser.error(str(err))
    if codec is None:
        parser.error(f"set {KEY_ENV} or {KEY_FILE_ENV}: without a key there is nothing to decode")
    origins = [o.strip() for o in os.environ.get(CORS_ENV, ",".join(DEFAULT_ORIGINS)).split(",") if o.strip()]
    server = make_server(codec, args.host, args.port, origins=origins, require_header=args.require_header)
    logger.info(
        "codec server (key %s) on http://%s:%d, CORS origins %s",
        codec.key_id,
        args.host,
        server.server_address[1],
        ", ".join(origins),
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

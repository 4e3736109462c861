"""Codec server for the Temporal Web UI and CLI: decrypts payloads for people allowed to.

    WATCHER_TEMPORAL_CODEC_KEYS=... WATCHER_TEMPORAL_CODEC_SERVER_TOKENS=... \\
        python -m watcher_temporal.codec_server --port 8888

Implements Temporal's remote codec protocol: ``POST /decode`` and ``POST
/encode`` (also under a ``/{namespace}/`` prefix) with a body
``{"payloads": [{"metadata": {...base64...}, "data": "...base64..."}]}``,
answered in the same shape.

Safe by default (docs/security.md):

* every ``/encode`` and ``/decode`` needs ``Authorization: Bearer <token>``
  (:mod:`watcher_temporal.codec_server_auth`: static tokens compared in
  constant time, or the Web UI's OIDC access token), or the session cookie of
  a browser signed in at ``/login`` with a static token; otherwise 401. The
  server refuses to start without a credential unless ``--insecure-no-auth``
  (loopback only, logged loudly);
* CORS only for the configured origins (``WATCHER_TEMPORAL_CODEC_CORS_ORIGINS``,
  comma-separated, default ``http://localhost:8233,http://localhost:8080``;
  ``*`` is refused);
* requests need a ``Content-Length`` (a non-negative integer up to
  :data:`MAX_BODY_BYTES`) and a JSON ``{"payloads": [...]}`` body;
* the whole request (request line, headers and body, token or not) must
  arrive within :data:`READ_TIMEOUT_SECONDS` of its first byte being awaited,
  however slowly it trickles, and the answer must be taken within as long: the
  connection is closed then (:class:`DeadlineReader`);
* at most :data:`MAX_HANDLERS` connections are handled at once, each on its own
  thread; one more is answered 503 at once, without a thread
  (:class:`BoundedHTTPServer`);
* it listens on 127.0.0.1 unless ``--host`` says otherwise.

Point the CLI at it with ``temporal --codec-endpoint http://localhost:8888
--codec-auth "Bearer $TOKEN"``; the Web UI with its codec endpoint setting
(``TEMPORAL_CODEC_ENDPOINT``) and either "pass access token" (its OIDC token,
verified here when OIDC is configured) or, without UI login, "include
cross-origin credentials" after signing the browser in at
``http://localhost:8888/login``.
"""

from __future__ import annotations

import argparse
import asyncio
import html
import ipaddress
import json
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads

from watcher_temporal.codec import KEY_ENV, KEY_FILE_ENV, KEYS_ENV, AesGcmCodec, CodecKeyError, CodecSettings
from watcher_temporal.codec_server_auth import (
    OIDC_ISSUER_ENV,
    TOKEN_FILE_ENV,
    TOKENS_ENV,
    AuthConfigError,
    Authenticator,
    BrowserSessions,
    CodecServerAuth,
)
from watcher_temporal.codec_server_http import (
    BoundedHTTPServer,
    DeadlineRequestHandler,
    RequestError,
    read_body,
)
from watcher_temporal.untrusted import one_line

CORS_ENV = "WATCHER_TEMPORAL_CODEC_CORS_ORIGINS"
DEFAULT_ORIGINS = ("http://localhost:8233", "http://localhost:8080")
MAX_BODY_BYTES = 4 * 1024 * 1024
#: A whole request (request line, headers and body) must arrive within this; then the connection is closed.
READ_TIMEOUT_SECONDS = 10.0
#: Connections handled at once (one thread each); more are answered 503 without a thread.
MAX_HANDLERS = 16
PAYLOAD_FIELDS = frozenset({"metadata", "data", "externalPayloads"})

logger = logging.getLogger("watcher_temporal.codec_server")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_origin(origin: str) -> str:
    if origin == "*" or "*" in origin:
        raise AuthConfigError(f"{CORS_ENV}: '*' is refused, list the Web UI's origins")
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/") or parts.query:
        raise AuthConfigError(
            f"{CORS_ENV}: {one_line(origin, limit=200)!r} is not an origin like https://ui.example:8080"
        )
    return f"{parts.scheme}://{parts.netloc}"


@dataclass(frozen=True, kw_only=True)
class CodecServerSettings:
    """How the codec server listens and whom it answers.

    Attributes:
        host: Address to listen on; loopback unless an operator asks.
        port: Port (0 picks a free one).
        auth: Credentials accepted on ``/encode`` and ``/decode``.
        origins: Web origins allowed by CORS (never ``*``).
        insecure_no_auth: Answer without authentication (loopback only).
        max_body_bytes: Largest request body.
        read_timeout_seconds: Time a whole request (request line, headers,
            body) may take to arrive, and its answer to be taken.
        max_handlers: Connections handled at once (one thread each).
    """

    host: str = "127.0.0.1"
    port: int = 8888
    auth: CodecServerAuth = field(default_factory=CodecServerAuth)
    origins: tuple[str, ...] = DEFAULT_ORIGINS
    insecure_no_auth: bool = False
    max_body_bytes: int = MAX_BODY_BYTES
    read_timeout_seconds: float = READ_TIMEOUT_SECONDS
    max_handlers: int = MAX_HANDLERS

    def __post_init__(self) -> None:
        if self.max_handlers < 1 or self.read_timeout_seconds <= 0:
            raise AuthConfigError("max_handlers must be at least 1 and read_timeout_seconds positive")
        object.__setattr__(self, "origins", tuple(_check_origin(o) for o in self.origins))
        if not self.auth.configured and not self.insecure_no_auth:
            raise AuthConfigError(
                f"the codec server decrypts for whoever calls it: set {TOKENS_ENV} or {TOKEN_FILE_ENV} "
                f"(or OIDC with {OIDC_ISSUER_ENV}...), or pass --insecure-no-auth for a lab on localhost"
            )
        if self.insecure_no_auth and not _is_loopback(self.host):
            raise AuthConfigError("--insecure-no-auth only on a loopback address (127.0.0.1, ::1)")

    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str] | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 8888,
        insecure_no_auth: bool = False,
    ) -> CodecServerSettings:
        """Credentials and origins from the environment, the rest from the arguments.

        Raises:
            AuthConfigError: see :meth:`CodecServerAuth.from_env` and the checks above.
        """
        env = os.environ if env is None else env
        origins = tuple(o.strip() for o in env.get(CORS_ENV, ",".join(DEFAULT_ORIGINS)).split(",") if o.strip())
        return cls(
            host=host,
            port=port,
            auth=CodecServerAuth.from_env(env),
            origins=origins,
            insecure_no_auth=insecure_no_auth,
        )


def transform(codec: AesGcmCodec, action: str, body: bytes) -> bytes:
    """Run ``encode``/``decode`` over a JSON ``{"payloads": [...]}`` body.

    Raises:
        RequestError: not JSON of that shape.
        CodecKeyError: a payload was encrypted with a key not in the ring.
    """
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise RequestError(HTTPStatus.BAD_REQUEST, "body is not JSON") from None
    if not isinstance(document, dict) or set(document) - {"payloads"}:
        raise RequestError(HTTPStatus.BAD_REQUEST, 'body must be {"payloads": [...]}')
    items = document.get("payloads", [])
    if not isinstance(items, list) or not all(isinstance(p, dict) and set(p) <= PAYLOAD_FIELDS for p in items):
        raise RequestError(HTTPStatus.BAD_REQUEST, 'payloads must be a list of {"metadata": {...}, "data": "..."}')
    payloads = Payloads()
    try:
        json_format.ParseDict(document, payloads)
    except json_format.ParseError as err:
        raise RequestError(HTTPStatus.BAD_REQUEST, f"malformed payloads: {one_line(err, limit=300)}") from None
    run = codec.encode if action == "encode" else codec.decode
    done = asyncio.run(run(list(payloads.payloads)))
    return json_format.MessageToJson(Payloads(payloads=done)).encode()


class CodecHandler(DeadlineRequestHandler):
    """One request: ``/encode``, ``/decode``, the browser sign-in pages, CORS.

    :func:`make_handler` binds a subclass to one codec and one settings object.
    """

    server_version = "watcher-temporal-codec"
    sys_version = ""
    codec: AesGcmCodec
    settings: CodecServerSettings
    authenticate: Authenticator
    sessions: BrowserSessions
    origins: frozenset[str]

    def _allowed_origin(self) -> str | None:
        origin = self.headers.get("Origin")
        return origin if origin in self.origins else None

    def _cors(self) -> None:
        origin = self._allowed_origin()
        if origin:
            self.send_header("Access-Control-Allow-Origin", origin)
            self.send_header("Access-Control-Allow-Methods", "POST, OPTIONS")
            self.send_header("Access-Control-Allow-Headers", "Content-Type, X-Namespace, Authorization")
            self.send_header("Access-Control-Allow-Credentials", "true")
            self.send_header("Access-Control-Max-Age", "600")
        self.send_header("Vary", "Origin")

    def _reply(
        self, status: HTTPStatus, body: bytes, content_type: str = "application/json", *, cookie: str = ""
    ) -> None:
        self.answer_within_deadline()
        self.send_response(status)
        self._cors()
        if cookie:
            self.send_header("Set-Cookie", cookie)
        if content_type.startswith("text/html"):
            # The sign-in pages load nothing and run no script; nobody may frame them.
            self.send_header("Content-Security-Policy", SIGN_IN_PAGE_POLICY)
            self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        if status is HTTPStatus.UNAUTHORIZED:
            self.send_header("WWW-Authenticate", 'Bearer realm="watcher-temporal-codec"')
        self.end_headers()
        self.wfile.write(body)

    def _error(self, status: HTTPStatus, message: str) -> None:
        self.close_connection = True  # the body may be unread
        self._reply(status, json.dumps({"error": message}).encode())

    def _page(self, status: HTTPStatus, title: str, text: str, *, cookie: str = "", form: bool = False) -> None:
        self._reply(status, sign_in_page(title, text, form=form).encode(), "text/html; charset=utf-8", cookie=cookie)

    def do_OPTIONS(self) -> None:
        if self.headers.get("Origin") and self._allowed_origin() is None:
            self._error(HTTPStatus.FORBIDDEN, "origin not allowed")
            return
        self._reply(HTTPStatus.NO_CONTENT, b"", "text/plain")

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0].rstrip("/")
        if path in ("", "/health"):
            self._reply(HTTPStatus.OK, b'{"status": "ok"}')
        elif path == "/login":
            signed_in = self.sessions.valid(self.headers.get("Cookie"))
            self._page(HTTPStatus.OK, "Codec server: sign in", SIGNED_IN if signed_in else PASTE_A_TOKEN, form=True)
        else:
            self._error(HTTPStatus.NOT_FOUND, "POST /encode or /decode; GET /login to sign a browser in")

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0].rstrip("/")
        if path == "/login":
            self._sign_in()
        elif path == "/logout":
            self.sessions.logout(self.headers.get("Cookie"))
            self._page(HTTPStatus.OK, "Codec server: signed out", "Signed out.", cookie=self.sessions.expired_cookie())
        elif path.rsplit("/", 1)[-1] in ("encode", "decode"):
            self._transform(path.rsplit("/", 1)[-1])
        else:
            self._error(HTTPStatus.NOT_FOUND, "POST /encode or /decode")

    def _sign_in(self) -> None:
        try:
            body = read_body(self.headers, self.rfile, self.settings.max_body_bytes)
        except RequestError as err:
            self._error(err.status, str(err))
            return
        except TimeoutError:
            self._error(HTTPStatus.REQUEST_TIMEOUT, "body not received in time")
            return
        form = parse_qs(body.decode("utf-8", "replace"), max_num_fields=4)
        session = self.sessions.login((form.get("token") or [""])[0].strip())
        if session is None:
            logger.warning("refused a browser sign-in from %s: wrong token", self.address_string())
            self._page(HTTPStatus.UNAUTHORIZED, "Codec server: token refused", TOKEN_REFUSED, form=True)
            return
        logger.info("browser signed in from %s", self.address_string())
        self._page(HTTPStatus.OK, "Codec server: signed in", NOW_SIGNED_IN, cookie=self.sessions.cookie(session))

    def _transform(self, action: str) -> None:
        signed_in = self.sessions.valid(self.headers.get("Cookie"))
        if not (self.settings.insecure_no_auth or signed_in or self.authenticate(self.headers.get("Authorization"))):
            logger.warning("refused unauthenticated %s from %s", action, self.address_string())
            self._error(
                HTTPStatus.UNAUTHORIZED, "Authorization: Bearer <token> required (a browser: sign in at /login)"
            )
            return
        try:
            body = transform(self.codec, action, read_body(self.headers, self.rfile, self.settings.max_body_bytes))
        except RequestError as err:
            self._error(err.status, str(err))
            return
        except CodecKeyError as err:
            self._error(HTTPStatus.BAD_REQUEST, str(err))
            return
        except TimeoutError:
            self._error(HTTPStatus.REQUEST_TIMEOUT, "body not received in time")
            return
        self._reply(HTTPStatus.OK, body)

    def log_message(self, format: str, *args: Any) -> None:
        logger.info("%s %s", self.address_string(), one_line(format % args, limit=500))


def make_handler(codec: AesGcmCodec, settings: CodecServerSettings) -> type[BaseHTTPRequestHandler]:
    """A request handler class bound to ``codec`` and ``settings``."""
    authenticate = Authenticator(settings.auth)
    bound = {
        "codec": codec,
        "settings": settings,
        "authenticate": authenticate,
        "sessions": BrowserSessions(authenticate),
        "origins": frozenset(settings.origins),
        "timeout": settings.read_timeout_seconds,
        "request_seconds": settings.read_timeout_seconds,
    }
    return type("BoundCodecHandler", (CodecHandler,), bound)


#: What the browser sign-in pages may do: load nothing, run nothing, be framed by nobody.
SIGN_IN_PAGE_POLICY = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"
SIGNED_IN = "This browser is signed in."
PASTE_A_TOKEN = "Paste a codec server token to let this browser's Temporal Web UI decode payloads."
TOKEN_REFUSED = (
    "That token is not accepted: the Web UI in this browser will keep showing encrypted payloads "
    "(\u201cCodec Server could not connect\u201d). Ask for a valid token and try again."
)
NOW_SIGNED_IN = (
    "This browser is signed in for 8 hours. In the Web UI's codec settings, set this server's address "
    "and turn on \u201cinclude cross-origin credentials\u201d; payloads then show decoded."
)


def sign_in_page(title: str, text: str, *, form: bool) -> str:
    """The sign-in page: plain HTML, no script, nothing loaded from anywhere."""
    body = f"<h1>{html.escape(title)}</h1><p>{html.escape(text)}</p>"
    if form:
        body += (
            '<form method="post" action="/login"><label>Token <input type="password" name="token" '
            'autocomplete="off" required></label> <button type="submit">Sign in</button></form>'
            '<form method="post" action="/logout"><button type="submit">Sign out</button></form>'
        )
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        "<style>body{font:16px sans-serif;margin:3em;max-width:40em}input{width:24em}</style></head>"
        f"<body>{body}</body></html>"
    )


def make_server(codec: AesGcmCodec, settings: CodecServerSettings) -> BoundedHTTPServer:
    """A ready (not yet serving) codec server; ``server_address`` has the port."""
    return BoundedHTTPServer(
        (settings.host, settings.port), make_handler(codec, settings), max_handlers=settings.max_handlers
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m watcher_temporal.codec_server", description=(__doc__ or "").splitlines()[0]
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default %(default)s)")
    parser.add_argument("--port", type=int, default=8888, help="port (default %(default)s)")
    parser.add_argument(
        "--insecure-no-auth",
        action="store_true",
        help="DANGER: decrypt for any caller without a token (loopback only, for a lab)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        keys = CodecSettings.from_env().keys
        # Never require encryption here: the UI must see plaintext payloads as they are.
        codec = AesGcmCodec(*keys) if keys else None
        settings = CodecServerSettings.from_env(host=args.host, port=args.port, insecure_no_auth=args.insecure_no_auth)
    except (CodecKeyError, AuthConfigError) as err:
        parser.error(str(err))
    if codec is None:
        parser.error(f"set {KEYS_ENV}, {KEY_ENV} or {KEY_FILE_ENV}: without a key there is nothing to decode")
    server = make_server(codec, settings)
    if settings.insecure_no_auth:
        logger.warning("!" * 72)
        logger.warning("--insecure-no-auth: ANY local process can decrypt this namespace's payloads")
        logger.warning("!" * 72)
    if not _is_loopback(settings.host):
        logger.warning("listening on %s: reachable from other machines, keep the token secret", settings.host)
    logger.info(
        "codec server (keys %s) on http://%s:%d, CORS origins %s, auth: %d token(s)%s",
        ", ".join(codec.key_ids),
        settings.host,
        server.server_address[1],
        ", ".join(settings.origins) or "none",
        len(settings.auth.tokens),
        ", OIDC" if settings.auth.oidc else "",
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

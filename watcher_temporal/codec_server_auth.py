"""Who may call the codec server: bearer tokens, and optionally the Web UI's OIDC access token.

Every ``/encode`` and ``/decode`` call carries ``Authorization: Bearer <token>``:

* a static token from ``WATCHER_TEMPORAL_CODEC_SERVER_TOKENS`` (comma-separated)
  or ``WATCHER_TEMPORAL_CODEC_SERVER_TOKEN_FILE`` (one per line), compared in
  constant time (``hmac.compare_digest``), at least :data:`MIN_TOKEN_CHARS`
  characters; what the ``temporal`` CLI sends with ``--codec-auth "Bearer ..."``;
* or, with ``WATCHER_TEMPORAL_CODEC_OIDC_ISSUER``, ``..._AUDIENCE`` and
  ``..._JWKS`` (an https URL or a file) set, a JWT signed by the identity
  provider (RS256/ES256; issuer, audience and expiry checked): what the Web UI
  forwards when its auth is on and the codec setting "pass access token" is
  set. Needs PyJWT (``pip install 'watcher-temporal[oidc]'``).

The Web UI without its own login cannot send a header to a codec server, so a
person signs the browser in once instead: ``GET /login`` is a form, ``POST
/login`` with one of the static tokens answers with a session cookie
(:class:`BrowserSessions`: a random id, HttpOnly, SameSite=Strict, 8 hours,
held in memory only), and the UI's codec setting "include cross-origin
credentials" makes the browser send it with every ``/decode``.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TOKENS_ENV = "WATCHER_TEMPORAL_CODEC_SERVER_TOKENS"
TOKEN_FILE_ENV = "WATCHER_TEMPORAL_CODEC_SERVER_TOKEN_FILE"
OIDC_ISSUER_ENV = "WATCHER_TEMPORAL_CODEC_OIDC_ISSUER"
OIDC_AUDIENCE_ENV = "WATCHER_TEMPORAL_CODEC_OIDC_AUDIENCE"
OIDC_JWKS_ENV = "WATCHER_TEMPORAL_CODEC_OIDC_JWKS"

#: Shortest static token accepted (``openssl rand -base64 32`` gives 44).
MIN_TOKEN_CHARS = 24
#: Longest ``Authorization`` header looked at.
MAX_HEADER_CHARS = 8192
JWT_ALGORITHMS = ("RS256", "RS384", "RS512", "ES256", "ES384", "PS256")
#: Name of the browser session cookie.
SESSION_COOKIE = "watcher_codec_session"
#: How long a browser stays signed in.
SESSION_SECONDS = 8 * 3600
#: Sessions held at once; the oldest is dropped past this.
MAX_SESSIONS = 256

logger = logging.getLogger("watcher_temporal.codec_server")


class AuthConfigError(ValueError):
    """The codec server's authentication is misconfigured (the message never holds a token)."""


@dataclass(frozen=True, kw_only=True)
class OidcSettings:
    """Verification of the Web UI's forwarded access token.

    Attributes:
        issuer: Expected ``iss`` claim.
        audience: Expected ``aud`` claim.
        jwks: URL (https, or http on localhost) or file of the provider's JWKS.
    """

    issuer: str
    audience: str
    jwks: str


@dataclass(frozen=True, kw_only=True)
class CodecServerAuth:
    """The credentials the codec server accepts.

    Attributes:
        tokens: Static bearer tokens (never shown by ``repr``).
        oidc: OIDC verification, or None.
    """

    tokens: tuple[str, ...] = field(default=(), repr=False)
    oidc: OidcSettings | None = None

    def __post_init__(self) -> None:
        for number, token in enumerate(self.tokens, start=1):
            if len(token) < MIN_TOKEN_CHARS or any(c.isspace() for c in token):
                raise AuthConfigError(
                    f"codec server token {number}: at least {MIN_TOKEN_CHARS} characters, no spaces "
                    "(generate one with `openssl rand -base64 32`)"
                )

    @property
    def configured(self) -> bool:
        """Whether any credential is configured (otherwise nobody gets in)."""
        return bool(self.tokens) or self.oidc is not None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> CodecServerAuth:
        """Read the variables of this module.

        Raises:
            AuthConfigError: both token variables, an unreadable file, a short
                token, an incomplete OIDC configuration.
        """
        env = os.environ if env is None else env
        text, path = env.get(TOKENS_ENV, "").strip(), env.get(TOKEN_FILE_ENV, "").strip()
        if text and path:
            raise AuthConfigError(f"set {TOKENS_ENV} or {TOKEN_FILE_ENV}, not both")
        if path:
            try:
                text = Path(path).read_text()
            except OSError as err:
                raise AuthConfigError(f"cannot read {TOKEN_FILE_ENV} {path}: {err.strerror}") from None
        tokens = tuple(t.strip() for t in text.replace(",", "\n").splitlines() if t.strip())
        oidc_values = {name: env.get(name, "").strip() for name in (OIDC_ISSUER_ENV, OIDC_AUDIENCE_ENV, OIDC_JWKS_ENV)}
        oidc = None
        if any(oidc_values.values()):
            missing = [name for name, value in oidc_values.items() if not value]
            if missing:
                raise AuthConfigError(f"OIDC verification needs {', '.join(missing)} too")
            oidc = OidcSettings(
                issuer=oidc_values[OIDC_ISSUER_ENV],
                audience=oidc_values[OIDC_AUDIENCE_ENV],
                jwks=oidc_values[OIDC_JWKS_ENV],
            )
        return cls(tokens=tokens, oidc=oidc)


class Authenticator:
    """Checks one request's ``Authorization`` header against :class:`CodecServerAuth`."""

    def __init__(self, auth: CodecServerAuth) -> None:
        self._tokens = [t.encode() for t in auth.tokens]
        self._oidc = auth.oidc
        self._jwks: Any = _jwks_source(auth.oidc) if auth.oidc else None

    def __call__(self, header: str | None) -> bool:
        """Whether ``header`` (``Bearer <token>``) carries an accepted credential."""
        if not header or len(header) > MAX_HEADER_CHARS:
            return False
        scheme, _, credential = header.strip().partition(" ")
        credential = credential.strip()
        if scheme.lower() != "bearer" or not credential:
            return False
        given = credential.encode()
        matched = False
        for token in self._tokens:  # every token compared: timing says nothing of which
            matched |= hmac.compare_digest(given, token)
        if matched:
            return True
        return self._oidc is not None and credential.count(".") == 2 and self._verify_jwt(credential)

    def _verify_jwt(self, credential: str) -> bool:
        import jwt

        assert self._oidc is not None
        try:
            header = jwt.get_unverified_header(credential)
            key = self._jwks.signing_key(header.get("kid"))
            jwt.decode(
                credential,
                key=key,
                algorithms=list(JWT_ALGORITHMS),
                audience=self._oidc.audience,
                issuer=self._oidc.issuer,
                options={"require": ["exp", "iss", "aud"]},
            )
        except (jwt.PyJWTError, LookupError, ValueError, TypeError) as err:  # refused, whatever is wrong
            logger.warning("codec server: OIDC token refused: %s", type(err).__name__)
            return False
        return True


class _FileJwks:
    """A JWKS read once from a file."""

    def __init__(self, path: str) -> None:
        import jwt

        self._set = jwt.PyJWKSet.from_dict(json.loads(Path(path).read_text()))

    def signing_key(self, kid: str | None) -> Any:
        for key in self._set.keys:
            if kid is None or key.key_id == kid:
                return key.key
        raise LookupError("no JWKS key with that kid")


class _UrlJwks:
    """A JWKS fetched (and cached) from the identity provider."""

    def __init__(self, url: str) -> None:
        import jwt

        self._client = jwt.PyJWKClient(url, cache_keys=True, lifespan=300, timeout=10)

    def signing_key(self, kid: str | None) -> Any:
        if kid is None:
            return self._client.get_signing_keys()[0].key
        return self._client.get_signing_key(kid).key


def _jwks_source(oidc: OidcSettings) -> _FileJwks | _UrlJwks:
    try:
        import jwt  # noqa: F401
    except ImportError:
        raise AuthConfigError("OIDC verification needs PyJWT: pip install 'watcher-temporal[oidc]'") from None
    if oidc.jwks.startswith("https://") or oidc.jwks.startswith(("http://127.0.0.1", "http://localhost")):
        return _UrlJwks(oidc.jwks)
    if "://" in oidc.jwks:
        raise AuthConfigError(f"{OIDC_JWKS_ENV} must be an https URL or a file")
    try:
        return _FileJwks(oidc.jwks)
    except (OSError, ValueError) as err:
        raise AuthConfigError(f"cannot read {OIDC_JWKS_ENV} {oidc.jwks}: {err}") from None


class BrowserSessions:
    """Browsers signed in with a static token: random session ids, in memory, for a few hours.

    The id is not the token: a cookie that leaks ends with its session (or a
    restart of the codec server), and the token never sits in the browser.
    """

    def __init__(self, authenticate: Authenticator, *, seconds: float = SESSION_SECONDS) -> None:
        self._authenticate = authenticate
        self._seconds = seconds
        self._expiry: dict[str, float] = {}
        self._lock = threading.Lock()

    def login(self, token: str) -> str | None:
        """A new session id when ``token`` is accepted, else None."""
        if not token or any(c.isspace() for c in token) or not self._authenticate(f"Bearer {token}"):
            return None
        session = secrets.token_urlsafe(32)
        now = time.monotonic()
        with self._lock:
            self._expiry = {k: v for k, v in self._expiry.items() if v > now}
            while len(self._expiry) >= MAX_SESSIONS:
                self._expiry.pop(min(self._expiry, key=self._expiry.__getitem__))
            self._expiry[session] = now + self._seconds
        return session

    def logout(self, cookie_header: str | None) -> None:
        session = _session_of(cookie_header)
        if session:
            with self._lock:
                self._expiry.pop(session, None)

    def valid(self, cookie_header: str | None) -> bool:
        """Whether the request's ``Cookie`` header carries a live session."""
        session = _session_of(cookie_header)
        if not session:
            return False
        # A 256-bit random id: looking it up leaks nothing worth guessing.
        with self._lock:
            expiry = self._expiry.get(session)
        return expiry is not None and expiry > time.monotonic()

    def cookie(self, session: str) -> str:
        """The ``Set-Cookie`` value of a new session."""
        return f"{SESSION_COOKIE}={session}; Max-Age={int(self._seconds)}; Path=/; HttpOnly; SameSite=Strict"

    @staticmethod
    def expired_cookie() -> str:
        return f"{SESSION_COOKIE}=; Max-Age=0; Path=/; HttpOnly; SameSite=Strict"


def _session_of(cookie_header: str | None) -> str | None:
    if not cookie_header or len(cookie_header) > MAX_HEADER_CHARS:
        return None
    for part in cookie_header.split(";"):
        name, _, value = part.strip().partition("=")
        if name == SESSION_COOKIE and value:
            return value.strip()
    return None

"""Authentication shim in front of Nova's (stubbed) keystone middleware.

Nova 34 has no ``noauth2``.  The functional-test ``OSAPIFixture`` replaces
keystonemiddleware by a pass-through and builds the request context from the
``X-Auth-User`` / ``X-Auth-Project-Id`` / ``X-Roles`` headers its own test
client sends.  Unmodified openstacksdk sends only ``X-Auth-Token``, so this
shim checks that token and then sets the identity headers of an admin user in
the fixture's project.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable, Iterable
from typing import Any

#: The project every localnova request runs in (the fixtures' project id).
PROJECT_ID = "6f70656e737461636b20342065766572"
USER_ID = "admin"
ROLES = "reader,member,admin"

# Version documents are unauthenticated in a real deployment too.
_PUBLIC_PATHS = frozenset({"", "/", "/v2", "/v2/", "/v2.1", "/v2.1/"})

StartResponse = Callable[..., Any]


class AuthShim:
    """Turn a valid admin token (or anything, in ``none`` mode) into admin.

    Args:
        app: Nova's Compute API WSGI application.
        token: The accepted ``X-Auth-Token``; ``None`` accepts every request
            (``auth_type: none`` in clouds.yaml).
    """

    def __init__(self, app: Callable[..., Iterable[bytes]], token: str | None) -> None:
        self.app = app
        self.token = token

    def __call__(self, environ: dict, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if self.token is not None and path not in _PUBLIC_PATHS:
            given = environ.get("HTTP_X_AUTH_TOKEN", "")
            if not hmac.compare_digest(given.encode(), self.token.encode()):
                body = json.dumps(
                    {
                        "error": {
                            "code": 401,
                            "title": "Unauthorized",
                            "message": "localnova: invalid or missing X-Auth-Token",
                        }
                    }
                ).encode()
                start_response(
                    "401 Unauthorized",
                    [
                        ("Content-Type", "application/json"),
                        ("Content-Length", str(len(body))),
                        ("WWW-Authenticate", 'Keystone uri="none"'),
                    ],
                )
                return [body]
        # Overwrite (never trust) identity headers a client might send.
        environ["HTTP_X_AUTH_USER"] = USER_ID
        environ["HTTP_X_USER_ID"] = USER_ID
        environ["HTTP_X_USER_NAME"] = USER_ID
        environ["HTTP_X_AUTH_PROJECT_ID"] = PROJECT_ID
        environ["HTTP_X_PROJECT_ID"] = PROJECT_ID
        environ["HTTP_X_TENANT_ID"] = PROJECT_ID
        environ["HTTP_X_ROLES"] = ROLES
        environ["HTTP_X_IDENTITY_STATUS"] = "Confirmed"
        return self.app(environ, start_response)


#: Where localnova serves placement, beside the Compute API (same port).
PLACEMENT_PREFIX = "/placement"
#: Token placement's ``noauth2`` middleware turns into an admin context.
_PLACEMENT_ADMIN_TOKEN = "admin"


class PlacementShim:
    """Serve placement (``noauth2`` in the fixture) under ``/placement`` behind the same token check.

    The caller's token is checked like :class:`AuthShim` checks it, then
    replaced by the fixture's admin token, so placement sees an admin.
    In keystone mode keystonemiddleware sits in front and has validated the
    token: only the admin role passes (``require_admin_role``).

    Args:
        app: The placement WSGI application of Nova's placement fixture.
        token: The accepted ``X-Auth-Token`` (``None``: every request).
        require_admin_role: Answer 403 unless keystonemiddleware confirmed
            a token with the admin role.
    """

    def __init__(
        self, app: Callable[..., Iterable[bytes]], token: str | None, *, require_admin_role: bool = False
    ) -> None:
        self.app = app
        self.token = token
        self.require_admin_role = require_admin_role

    def __call__(self, environ: dict, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")[len(PLACEMENT_PREFIX) :]
        if self.require_admin_role and (
            environ.get("HTTP_X_IDENTITY_STATUS") != "Confirmed"
            or "admin" not in environ.get("HTTP_X_ROLES", "").split(",")
        ):
            body = b'{"errors": [{"status": 403, "title": "Forbidden"}]}'
            start_response("403 Forbidden", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]
        if self.token is not None and path not in ("", "/"):
            given = environ.get("HTTP_X_AUTH_TOKEN", "")
            if not hmac.compare_digest(given.encode(), self.token.encode()):
                body = b'{"errors": [{"status": 401, "title": "Unauthorized"}]}'
                start_response(
                    "401 Unauthorized",
                    [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
                )
                return [body]
        environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "") + PLACEMENT_PREFIX
        environ["PATH_INFO"] = path or "/"
        environ["HTTP_X_AUTH_TOKEN"] = _PLACEMENT_ADMIN_TOKEN
        environ["HTTP_X_ROLES"] = "admin,member,reader"
        return self.app(environ, start_response)

"""The ``/localnova/*`` JSON control API and the top-level WSGI dispatcher.

Routes (served on the same port as the Compute API, never subject to fault
injection, no authentication -- the server only listens on 127.0.0.1):

* ``GET  /localnova/health``        -> ``{"status": "ok", ...}``
* ``GET  /localnova/config``        -> current knobs
* ``PATCH /localnova/config``       -> apply a partial JSON object of knobs
* ``POST /localnova/config/reset``  -> back to the start-up knobs
* ``GET  /localnova/stats``         -> request counters
* ``POST /localnova/stats/reset``   -> zero the counters
* ``GET  /localnova/migrations``    -> the driver's copies: finished (timeline) and in flight
* ``POST /localnova/migrations/reset`` -> forget the finished ones
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from localnova import knobs, links
from localnova.auth import PLACEMENT_PREFIX
from localnova.faults import FaultMiddleware
from localnova.stats import STATS, RequestStats

PREFIX = "/localnova"
StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict, StartResponse], Iterable[bytes]]


def _json(start_response: StartResponse, code: int, title: str, payload: Any) -> list[bytes]:
    body = json.dumps(payload, sort_keys=True).encode()
    start_response(f"{code} {title}", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


class ControlApp:
    """WSGI app for the control routes.

    Args:
        store: The knobs.
        stats: The request counters.
        info: Callable returning static facts about the cloud (hosts,
            endpoint), merged into ``/localnova/health``.
    """

    def __init__(
        self,
        store: knobs.KnobStore = knobs.STORE,
        stats: RequestStats = STATS,
        info: Callable[[], dict[str, Any]] | None = None,
    ) -> None:
        self.store = store
        self.stats = stats
        self.info = info or (lambda: {})

    def __call__(self, environ: dict, start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET").upper()
        path = environ.get("PATH_INFO", "").rstrip("/")
        route = (method, path[len(PREFIX) :] or "/")
        try:
            if route == ("GET", "/health"):
                return _json(start_response, 200, "OK", {"status": "ok", **self.info()})
            if route == ("GET", "/config"):
                return _json(start_response, 200, "OK", self.store.get().to_dict())
            if route in (("PATCH", "/config"), ("PUT", "/config"), ("POST", "/config")):
                changes = self._body(environ)
                if not isinstance(changes, dict):
                    raise ValueError("body must be a JSON object")
                return _json(start_response, 200, "OK", self.store.update(changes).to_dict())
            if route == ("POST", "/config/reset"):
                return _json(start_response, 200, "OK", self.store.reset().to_dict())
            if route == ("GET", "/stats"):
                return _json(start_response, 200, "OK", self.stats.snapshot())
            if route == ("GET", "/migrations"):
                return _json(start_response, 200, "OK", self._migrations())
            if route == ("POST", "/migrations/reset"):
                links.LINKS.timeline.clear()
                return _json(start_response, 200, "OK", self._migrations())
            if route == ("POST", "/stats/reset"):
                self.stats.reset()
                return _json(start_response, 200, "OK", self.stats.snapshot())
        except ValueError as exc:
            return _json(start_response, 400, "Bad Request", {"error": str(exc)})
        return _json(start_response, 404, "Not Found", {"error": f"no route {method} {path}"})

    @staticmethod
    def _migrations() -> dict[str, Any]:
        return {"finished": list(links.LINKS.timeline), "in_flight": links.LINKS.in_flight()}

    @staticmethod
    def _body(environ: dict) -> Any:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length else b""
        try:
            return json.loads(raw or b"{}")
        except json.JSONDecodeError as exc:
            raise ValueError(f"invalid JSON: {exc}") from None


class Dispatcher:
    """Route ``/localnova/*`` to the control API, ``/placement/*`` to placement, the rest to Nova.

    Compute API requests are counted first, then pass the fault injector,
    so injected faults are visible in the stats like real requests.
    Placement requests are counted too (as ``/placement/...`` paths) but
    get no faults.

    Args:
        compute_app: Nova's Compute API (already wrapped by the auth shim).
        control_app: The control API.
        stats: The request counters.
        placement_app: Placement (already wrapped by its shim), or None.
    """

    def __init__(
        self,
        compute_app: WSGIApp,
        control_app: ControlApp,
        stats: RequestStats = STATS,
        placement_app: WSGIApp | None = None,
    ) -> None:
        self.faulty_compute = FaultMiddleware(compute_app, stats=stats)
        self.control_app = control_app
        self.stats = stats
        self.placement_app = placement_app

    def __call__(self, environ: dict, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == PREFIX or path.startswith(PREFIX + "/"):
            return self.control_app(environ, start_response)
        self.stats.record_request(environ.get("REQUEST_METHOD", "GET"), path)

        def counting_start_response(status: str, headers: list, exc_info: Any = None) -> Any:
            self.stats.record_status(status.split(" ", 1)[0])
            return start_response(status, headers, exc_info)

        if self.placement_app is not None and (path == PLACEMENT_PREFIX or path.startswith(PLACEMENT_PREFIX + "/")):
            return self.placement_app(environ, counting_start_response)
        return self.faulty_compute(environ, counting_start_response)

"""Counting of Compute API requests, exposed by the control API."""

from __future__ import annotations

import collections
import re
import threading
from typing import Any

# UUIDs (with or without dashes), request ids and plain integers become
# ``{id}`` so that e.g. every GET of a server lands in one bucket.
_ID_RE = re.compile(
    r"/(?:[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?"
    r"[0-9a-fA-F]{12}|req-[0-9a-fA-F-]+|\d+)(?=/|$)"
)


def path_template(path: str) -> str:
    """Collapse ids in a request path, e.g. ``/v2.1/servers/{id}/action``."""
    return _ID_RE.sub("/{id}", path) or "/"


class RequestStats:
    """Thread-safe counters of Compute API requests and injected faults."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """Zero every counter."""
        with self._lock:
            self._total = 0
            self._by_method: collections.Counter[str] = collections.Counter()
            self._by_path: collections.Counter[str] = collections.Counter()
            self._by_status: collections.Counter[str] = collections.Counter()
            self._faults: collections.Counter[str] = collections.Counter()

    def record_request(self, method: str, path: str) -> None:
        """Count one request as it arrives (before any fault is injected)."""
        with self._lock:
            self._total += 1
            self._by_method[method] += 1
            self._by_path[f"{method} {path_template(path)}"] += 1

    def record_status(self, status: str) -> None:
        """Count the status line sent back (e.g. ``"202"``)."""
        with self._lock:
            self._by_status[status] += 1

    def record_fault(self, kind: str) -> None:
        """Count an injected fault (``"500"``, ``"503"``, ``"drop"`` or ``"lost"``)."""
        with self._lock:
            self._faults[kind] += 1

    def snapshot(self) -> dict[str, Any]:
        """Return the counters as a JSON-serialisable dict."""
        with self._lock:
            return {
                "total": self._total,
                "by_method": dict(self._by_method),
                "by_path_template": dict(self._by_path),
                "by_status": dict(self._by_status),
                "faults": dict(self._faults),
            }


#: The process-wide counters.
STATS = RequestStats()

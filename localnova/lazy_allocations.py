"""Read a compute node's allocations from placement only when used.

On every resource claim and release, Nova's resource tracker
(``ResourceTracker._update_to_placement``) calls
``SchedulerReportClient.get_allocations_for_provider_tree``, which sends one
``GET /allocations/{consumer}`` per consumer on the node.  The result is
only used when the virt driver asks for a reshape at start-up
(``ReshapeNeeded``), which localnova's fake driver never does.  With 50
servers per host that is 50 placement requests per claim, and it was the
largest single cost of a 1,000-server cloud (over a third of the CPU time
when migrating).

The patch returns a mapping that makes the same call on first access, so
Nova's behaviour is unchanged where the value is used.  Nothing of the
Compute API is touched.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from nova.scheduler.client import report

_installed = False


class LazyAllocations(Mapping[str, Any]):
    """A mapping filled by ``load()`` on first access."""

    def __init__(self, load: Callable[[], Mapping[str, Any]]) -> None:
        self._load = load
        self._data: Mapping[str, Any] | None = None

    def _get(self) -> Mapping[str, Any]:
        if self._data is None:
            self._data = self._load()
        return self._data

    def __getitem__(self, key: str) -> Any:
        return self._get()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._get())

    def __len__(self) -> int:
        return len(self._get())


def install() -> None:
    """Patch ``SchedulerReportClient.get_allocations_for_provider_tree``. Idempotent."""
    global _installed
    if _installed:
        return
    original = report.SchedulerReportClient.get_allocations_for_provider_tree

    def lazy(self: Any, context: Any, nodename: str) -> LazyAllocations:
        return LazyAllocations(lambda: original(self, context, nodename))

    report.SchedulerReportClient.get_allocations_for_provider_tree = lazy  # type: ignore[method-assign]
    _installed = True

"""localnova: a real Nova 34 Compute API on 127.0.0.1 for dev and tests.

Importing this package is cheap and does NOT import Nova (Nova monkey
patches eventlet on import); the cloud itself runs in a subprocess started
by :class:`LocalNova` or ``python -m localnova up``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["LocalNova", "LocalNovaError", "LocalNovaHandle"]


def __getattr__(name: str) -> Any:
    # Lazy so that ``python -m localnova`` does not import the harness.
    if name in __all__:
        from localnova import harness

        return getattr(harness, name)
    raise AttributeError(name)

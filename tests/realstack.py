"""Fixtures and helpers for tests on the real stack: dev server, local Nova, a real worker.

Loaded for every test package by ``tests/conftest.py`` (``pytest_plugins``), so
the session pays for one worker, whichever package asks for it first.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pytest
from temporalio.testing import WorkflowEnvironment

from localnova.harness import LocalNovaHandle
from tests.integration.parents import MigrateMany
from watcher_temporal.activities.nova import NovaGateway
from watcher_temporal.worker import build_worker
from watcher_temporal.workflows import ALL_WORKFLOWS

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class RunningWorker:
    """An in-process worker on its own task queue."""

    task_queue: str
    nova: NovaGateway


@pytest.fixture(scope="session")
async def worker(dev_env: WorkflowEnvironment, localnova_cloud: LocalNovaHandle) -> AsyncIterator[RunningWorker]:
    """One real worker (all workflows + a test parent, real activities) for the session."""
    task_queue = f"it-{uuid.uuid4().hex[:8]}"
    nova = NovaGateway(connect=localnova_cloud.connect)
    # MigrateMany, a test-only parent, runs MigrateServer as a child workflow.
    async with build_worker(dev_env.client, task_queue=task_queue, nova=nova, workflows=[*ALL_WORKFLOWS, MigrateMany]):
        yield RunningWorker(task_queue=task_queue, nova=nova)
    nova.close()


class WorkerProcess:
    """``python worker.py`` as a separate process, as an operator runs it.

    ``root`` is the tree whose ``worker.py`` runs (this checkout unless a test runs
    a release's unpacked tree, :mod:`tests.upgrade.release`).
    """

    def __init__(self, env: dict[str, str], *, root: Path = REPO) -> None:
        self._env = env
        self._root = root
        self.proc: subprocess.Popen[bytes] | None = None
        self.log: IO[bytes] | None = None

    def start(self) -> None:
        # A file, not a pipe: nobody reads the log while the worker runs, and a
        # full pipe would block a busy worker.
        self.log = tempfile.TemporaryFile()  # closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, str(self._root / "worker.py")],
            cwd=self._root,
            env=self._env,
            stdout=subprocess.DEVNULL,
            stderr=self.log,
        )

    @property
    def identity(self) -> str:
        """The prefix of the worker identity Temporal records (``<pid>@<host>``)."""
        assert self.proc is not None
        return f"{self.proc.pid}@"

    def log_tail(self, chars: int = 4000) -> str:
        """The end of the worker's stderr (for a failing test's report)."""
        if self.log is None or self.log.closed:
            return ""
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-chars:]

    def kill(self) -> None:
        """SIGKILL: no graceful shutdown, no last heartbeat."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        if self.log is not None:
            self.log.close()


@pytest.fixture
def worker_process_factory(
    dev_env: WorkflowEnvironment, localnova_cloud: LocalNovaHandle
) -> Iterator[Callable[[str], WorkerProcess]]:
    started: list[WorkerProcess] = []

    def make(task_queue: str) -> WorkerProcess:
        env = {
            **os.environ,
            **localnova_cloud.env(),
            "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
            "TEMPORAL_NAMESPACE": dev_env.client.namespace,
            "TEMPORAL_TASK_QUEUE": task_queue,
            "PYTHONPATH": str(REPO),
        }
        wp = WorkerProcess(env)
        started.append(wp)
        return wp

    yield make
    for wp in started:
        wp.stop()


def boot_on(cloud: LocalNovaHandle, host: str, *, stopped: bool = False) -> str:
    """Boot one server on ``host`` (and stop it when asked); return its id."""
    [server_id] = cloud.boot_servers(1, hosts=[host], name_prefix=f"it-{uuid.uuid4().hex[:4]}")
    if stopped:
        cloud.conn.compute.stop_server(server_id)
        cloud.wait_server(server_id, "SHUTOFF")
    return server_id


def nova_migrations(cloud: LocalNovaHandle, server_id: str) -> list[Any]:
    """Every migration record Nova has for the server (os-migrations)."""
    return list(cloud.conn.compute.migrations(server_id=server_id))

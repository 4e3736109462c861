"""Processes the engine's edge tests start: a standalone worker, a Temporal that comes and goes.

* :class:`StandaloneWorker`: ``watcher-temporal-worker`` as its own process (the documented
  deployment), with Watcher's configuration file for the generic path.
* :class:`TcpForwarder`: a byte forwarder from a free local port to the session's dev server.
  The applier is pointed at the forwarder; stopping it makes Temporal unreachable for the
  applier only (the workflows and the worker go on), starting it again brings Temporal back
  on the same address.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import uuid
from pathlib import Path

from localnova.hermetic import without_foreign

#: The shipped worker command, beside this interpreter.
WORKER_COMMAND = Path(sys.executable).with_name("watcher-temporal-worker")


class StandaloneWorker:
    """``watcher-temporal-worker`` in its own process, on its own task queue."""

    def __init__(self, *, env: dict[str, str], log: Path) -> None:
        self.task_queue = env["TEMPORAL_TASK_QUEUE"]
        self.log = log
        with log.open("wb") as stderr:  # a file, not a pipe: nobody must drain it
            self.process = subprocess.Popen(
                [str(WORKER_COMMAND)],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                start_new_session=True,
            )

    def polling(self) -> bool:
        """Whether the worker says it polls its task queue (fails the caller if it died)."""
        if self.process.poll() is not None:
            raise AssertionError(f"watcher-temporal-worker exited {self.process.returncode}: {self.log_text()[-2000:]}")
        return "worker polling task queue" in self.log_text()

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)


def worker_env(*, cloud_env: dict[str, str], address: str, namespace: str, watcher_config: Path) -> dict[str, str]:
    """The environment of a standalone worker: only what it is given, on a fresh task queue."""
    keep = {k: v for k, v in without_foreign().items() if not k.startswith("WATCHER_TEMPORAL_")}
    return {
        **keep,
        **cloud_env,
        "TEMPORAL_ADDRESS": address,
        "TEMPORAL_NAMESPACE": namespace,
        "TEMPORAL_TASK_QUEUE": f"standalone-{uuid.uuid4().hex[:8]}",
        "WATCHER_TEMPORAL_WATCHER_CONFIG": str(watcher_config),
        "WATCHER_TEMPORAL_MAX_IN_FLIGHT": "20",
    }


def free_port() -> int:
    with contextlib.closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class TcpForwarder:
    """127.0.0.1:``port`` → ``target``, in the test's event loop, stoppable and restartable."""

    def __init__(self, target: str, port: int | None = None) -> None:
        host, _, target_port = target.rpartition(":")
        self._target = (host or "127.0.0.1", int(target_port))
        self.port = port or free_port()
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port, reuse_address=True)

    async def stop(self) -> None:
        """Close the port and cut every open connection."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for pipe in list(self._pipes):
            pipe.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._target)
        except OSError:
            writer.close()
            return
        for src, dst in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(_pipe(src, dst))
            self._pipes.add(task)
            task.add_done_callback(self._pipes.discard)


async def _pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
    try:
        while data := await src.read(65536):
            dst.write(data)
            await dst.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        dst.close()

"""Where the worker and the starters find Temporal, from the environment.

Temporal settings follow the ``temporal`` CLI's own conventions, read by the
SDK's ``temporalio.envconfig``: ``TEMPORAL_ADDRESS``, ``TEMPORAL_NAMESPACE``,
``TEMPORAL_API_KEY``, ``TEMPORAL_TLS*`` variables, and config-file profiles
(``TEMPORAL_PROFILE``, ``TEMPORAL_CONFIG_FILE``). ``TEMPORAL_TASK_QUEUE``
picks the task queue (default ``watcher-actions``).

Nova credentials are not here on purpose: openstacksdk reads them itself from
clouds.yaml (``OS_CLOUD``) or ``OS_*`` variables, in the worker only, so they
never enter a workflow input, result or history.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from temporalio.client import Client, Interceptor
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter
from temporalio.envconfig import ClientConfig
from temporalio.runtime import Runtime

from watcher_temporal.codec import codec_from_env, with_codec
from watcher_temporal.contract import DEFAULT_TASK_QUEUE

DEFAULT_ADDRESS = "localhost:7233"
DEFAULT_NAMESPACE = "default"


@dataclass(frozen=True, kw_only=True)
class TemporalSettings:
    """How to reach Temporal and which task queue to use.

    Attributes:
        connect: Keyword arguments for ``Client.connect`` (address,
            namespace, TLS, API key), as ``temporalio.envconfig`` loads them.
        task_queue: Task queue of the worker and of started workflows.
    """

    connect: Mapping[str, Any] = field(default_factory=dict)
    task_queue: str = DEFAULT_TASK_QUEUE

    @property
    def address(self) -> str:
        return str(self.connect.get("target_host", DEFAULT_ADDRESS))

    @property
    def namespace(self) -> str:
        return str(self.connect.get("namespace", DEFAULT_NAMESPACE))

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> TemporalSettings:
        """Load settings the way the ``temporal`` CLI would, plus the task queue."""
        env = os.environ if env is None else env
        loaded = dict(ClientConfig.load_client_connect_config(override_env_vars=dict(env)))
        loaded.setdefault("target_host", DEFAULT_ADDRESS)
        loaded.setdefault("namespace", DEFAULT_NAMESPACE)
        return cls(connect=loaded, task_queue=env.get("TEMPORAL_TASK_QUEUE") or DEFAULT_TASK_QUEUE)


def data_converter(env: Mapping[str, str] | None = None) -> DataConverter:
    """The pydantic data converter, encrypting when a codec key is configured.

    See :mod:`watcher_temporal.codec` (``WATCHER_TEMPORAL_CODEC_KEY`` /
    ``WATCHER_TEMPORAL_CODEC_KEY_FILE``).
    """
    return with_codec(pydantic_data_converter, codec_from_env(env))


async def connect_client(
    settings: TemporalSettings | None = None,
    *,
    interceptors: Sequence[Interceptor] = (),
    runtime: Runtime | None = None,
) -> Client:
    """Connect with the data converter every part of the project uses.

    Args:
        settings: Where Temporal is; from the environment by default.
        interceptors: Client (and, through a worker, worker) interceptors.
        runtime: Temporal runtime, e.g. one exporting Prometheus metrics
            (:func:`watcher_temporal.metrics.runtime_from_env`); workers
            built on this client use it too.
    """
    settings = settings or TemporalSettings.from_env()
    return await Client.connect(
        **settings.connect,
        data_converter=data_converter(),
        interceptors=list(interceptors),
        runtime=runtime,
    )

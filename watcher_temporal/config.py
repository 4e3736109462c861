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
from temporalio.envconfig import ClientConfig

from watcher_temporal.models import DEFAULT_TASK_QUEUE

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


async def connect_client(
    settings: TemporalSettings | None = None, *, interceptors: Sequence[Interceptor] = ()
) -> Client:
    """Connect with the pydantic data converter every part of the project uses."""
    settings = settings or TemporalSettings.from_env()
    return await Client.connect(
        **settings.connect,
        data_converter=pydantic_data_converter,
        interceptors=list(interceptors),
    )

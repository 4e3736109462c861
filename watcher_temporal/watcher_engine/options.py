"""``[watcher_workflow_engines.temporal]``: how Watcher's applier reaches Temporal.

Every option left unset falls back to the environment the worker itself reads
(``TEMPORAL_ADDRESS``, ``TEMPORAL_NAMESPACE``, ``TEMPORAL_TLS*``,
``TEMPORAL_API_KEY``, ``TEMPORAL_TASK_QUEUE``, ``WATCHER_TEMPORAL_CODEC_KEY[S|_FILE]``),
so one environment file can serve the worker and the applier.

oslo.config is imported lazily (it comes with python-watcher, not with
watcher-temporal itself).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from watcher_temporal.codec import KEY_ENV, KEY_FILE_ENV, KEYS_ENV
from watcher_temporal.config import TemporalSettings
from watcher_temporal.contract import DEFAULT_MAX_PARALLEL_PER_SOURCE, MAX_PARALLEL_LIMIT, OnFailure
from watcher_temporal.watcher_engine.barriers import BarrierMode

#: Seconds between two reads of the workflow's status and of the plan's DB row
#: (cancel is seen within this interval plus one round trip).
DEFAULT_STATUS_INTERVAL = 0.5

#: Option name → environment variable it overrides, for the Temporal connection.
_ENV_OF_OPTION = {
    "address": "TEMPORAL_ADDRESS",
    "namespace": "TEMPORAL_NAMESPACE",
    "task_queue": "TEMPORAL_TASK_QUEUE",
    "tls_server_ca_cert_file": "TEMPORAL_TLS_SERVER_CA_CERT_PATH",
    "tls_client_cert_file": "TEMPORAL_TLS_CLIENT_CERT_PATH",
    "tls_client_key_file": "TEMPORAL_TLS_CLIENT_KEY_PATH",
    "tls_server_name": "TEMPORAL_TLS_SERVER_NAME",
    "codec_key_file": KEY_FILE_ENV,
}


def config_opts() -> list[Any]:
    """The options of ``[watcher_workflow_engines.temporal]`` (oslo.config ``Opt`` objects)."""
    from oslo_config import cfg

    return [
        cfg.StrOpt("address", help="Temporal frontend host:port. Default: TEMPORAL_ADDRESS, else localhost:7233."),
        cfg.StrOpt("namespace", help="Temporal namespace. Default: TEMPORAL_NAMESPACE, else 'default'."),
        cfg.StrOpt(
            "task_queue",
            help="Task queue of the watcher-temporal workers. Default: TEMPORAL_TASK_QUEUE, else 'watcher-actions'.",
        ),
        cfg.BoolOpt("tls", help="Use TLS. Default: TEMPORAL_TLS (on when any TLS file is set)."),
        cfg.StrOpt("tls_server_ca_cert_file", help="CA bundle that signs the Temporal frontend's certificate."),
        cfg.StrOpt("tls_client_cert_file", help="Client certificate (mTLS)."),
        cfg.StrOpt("tls_client_key_file", help="Client key (mTLS)."),
        cfg.StrOpt("tls_server_name", help="Server name for SNI and certificate checks."),
        cfg.StrOpt(
            "api_key_file",
            help="File holding a Temporal Cloud API key (the key itself never goes in this file). "
            "Default: TEMPORAL_API_KEY.",
        ),
        cfg.StrOpt(
            "codec_key_file",
            help="File holding the payload encryption key shared with the workers (see docs/security). "
            "Default: WATCHER_TEMPORAL_CODEC_KEY[_FILE].",
        ),
        cfg.StrOpt(
            "failure_policy",
            default=OnFailure.STOP.value,
            choices=[p.value for p in OnFailure],
            help="What a plan does once an action FAILED: stop (start nothing new; recommended), "
            "watcher (children of a failed action still run, like taskflow), continue "
            "(run what does not depend on it), rollback (stop, then revert what succeeded).",
        ),
        cfg.IntOpt(
            "max_parallel", default=4, min=1, max=MAX_PARALLEL_LIMIT, help="Actions of one plan running at once."
        ),
        cfg.IntOpt(
            "max_parallel_per_host",
            default=2,
            min=1,
            max=MAX_PARALLEL_LIMIT,
            help="Migrations touching one compute host (source or destination) at once.",
        ),
        cfg.IntOpt(
            "max_parallel_per_source",
            default=DEFAULT_MAX_PARALLEL_PER_SOURCE,
            min=0,
            max=MAX_PARALLEL_LIMIT,
            help="Migrations leaving one compute host at once (Nova's max_concurrent_live_migrations "
            "is 1 by default); 0: no limit.",
        ),
        cfg.IntOpt(
            "max_parallel_per_destination",
            default=0,
            min=0,
            max=MAX_PARALLEL_LIMIT,
            help="Migrations entering one named destination host at once; 0 (default): no limit.",
        ),
        cfg.StrOpt(
            "barriers",
            default=BarrierMode.KEEP.value,
            choices=[m.value for m in BarrierMode],
            help="keep: run Watcher's parents as they are, barriers between migration chunks included. "
            "limits: drop the parent edges between migrations (orderings with other action types stay) "
            "and set max_parallel to the widest chunk (Watcher's parallelization) instead.",
        ),
        cfg.FloatOpt(
            "status_interval",
            default=DEFAULT_STATUS_INTERVAL,
            min=0.05,
            max=10,
            help="Seconds between two reads of a plan's workflow status and DB row; bounds how late "
            "action states reach the DB and how late a cancel is seen.",
        ),
    ]


@dataclass(frozen=True, kw_only=True)
class EngineSettings:
    """Everything the engine needs, resolved from the options and the environment.

    Attributes:
        temporal: Where Temporal is and which task queue the workers poll.
        converter_env: Environment for :func:`watcher_temporal.config.data_converter`
            (the codec key lives there, never in this object's repr).
        failure_policy: The plan's ``on_failure``.
        max_parallel: The plan's global limit.
        max_parallel_per_host: The plan's per-host limit.
        max_parallel_per_source: The plan's per-source limit (None: none).
        max_parallel_per_destination: The plan's per-destination limit (None: none).
        barriers: Keep Watcher's barriers between migration chunks, or turn them into limits.
        status_interval: Seconds between two status reads.
    """

    temporal: TemporalSettings
    converter_env: Mapping[str, str]
    failure_policy: OnFailure = OnFailure.STOP
    max_parallel: int = 4
    max_parallel_per_host: int = 2
    max_parallel_per_source: int | None = DEFAULT_MAX_PARALLEL_PER_SOURCE
    max_parallel_per_destination: int | None = None
    barriers: BarrierMode = BarrierMode.KEEP
    status_interval: float = DEFAULT_STATUS_INTERVAL

    def __repr__(self) -> str:  # the converter env may hold a key: never print it
        return (
            f"EngineSettings(address={self.temporal.address!r}, namespace={self.temporal.namespace!r}, "
            f"task_queue={self.temporal.task_queue!r}, failure_policy={self.failure_policy.value!r})"
        )


def resolve(config: Mapping[str, Any], env: Mapping[str, str] | None = None) -> EngineSettings:
    """Merge the engine's options over the environment.

    Args:
        config: The options as Watcher's loader hands them (a mapping of
            option name → value; unset options are None).
        env: The process environment (``os.environ`` by default).
    """
    merged = dict(os.environ if env is None else env)
    if config.get("codec_key_file"):  # the option replaces any key the environment names
        for variable in (KEY_ENV, KEYS_ENV):
            merged.pop(variable, None)
    for option, variable in _ENV_OF_OPTION.items():
        value = config.get(option)
        if value:
            merged[variable] = str(value)
    if config.get("tls") is not None:
        merged["TEMPORAL_TLS"] = "true" if config["tls"] else "false"
    elif any(config.get(o) for o in ("tls_server_ca_cert_file", "tls_client_cert_file")):
        merged["TEMPORAL_TLS"] = "true"
    if config.get("api_key_file"):
        merged["TEMPORAL_API_KEY"] = Path(str(config["api_key_file"])).read_text().strip()
    return EngineSettings(
        temporal=TemporalSettings.from_env(merged),
        converter_env=merged,
        failure_policy=OnFailure(config.get("failure_policy") or OnFailure.STOP.value),
        max_parallel=int(config.get("max_parallel") or 4),
        max_parallel_per_host=int(config.get("max_parallel_per_host") or 2),
        max_parallel_per_source=_limit_or_none(config.get("max_parallel_per_source"), DEFAULT_MAX_PARALLEL_PER_SOURCE),
        max_parallel_per_destination=_limit_or_none(config.get("max_parallel_per_destination"), None),
        barriers=BarrierMode(config.get("barriers") or BarrierMode.KEEP.value),
        status_interval=float(config.get("status_interval") or DEFAULT_STATUS_INTERVAL),
    )


def _limit_or_none(value: Any, default: int | None) -> int | None:
    """An option's limit: unset → ``default``, 0 → no limit."""
    if value is None:
        return default
    return int(value) or None

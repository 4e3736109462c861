"""``[watcher_workflow_engines.temporal]``: how Watcher's applier reaches Temporal.

The engine is configured from Watcher's configuration file only: the shell's
``TEMPORAL_*`` or ``WATCHER_TEMPORAL_*`` variables are not read (an applier
started from a shell that points elsewhere still runs its plans where
watcher.conf says). Unset options take the defaults the worker uses
(``localhost:7233``, namespace ``default``, task queue ``watcher-actions``).

Files named by options (API key, TLS material, codec key) are read by
:func:`resolve`, which the engine calls when a plan starts: a missing or bad
file fails that plan with one line naming the option, never the applier.

oslo.config is imported lazily (it comes with python-watcher, not with
watcher-temporal itself).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from temporalio.envconfig import ClientConfigProfile, ClientConfigTLS

from watcher_temporal.codec import KEY_FILE_ENV, CodecSettings
from watcher_temporal.config import DEFAULT_ADDRESS, DEFAULT_NAMESPACE, TemporalSettings
from watcher_temporal.contract import (
    DEFAULT_MAX_PARALLEL_PER_SOURCE,
    DEFAULT_TASK_QUEUE,
    MAX_PARALLEL_LIMIT,
    OnFailure,
)
from watcher_temporal.watcher_engine.barriers import BarrierMode

#: The engine's option group in Watcher's configuration.
GROUP = "watcher_workflow_engines.temporal"

#: Seconds between two reads of the workflow's status and of the plan's DB row
#: (cancel is seen within this interval plus one round trip).
DEFAULT_STATUS_INTERVAL = 0.5

#: Seconds a plan's task queue may go without a polling worker before the plan fails (its workflow
#: is terminated, so that nothing moves later).
DEFAULT_NO_WORKER_TIMEOUT = 300


def config_opts() -> list[Any]:
    """The options of ``[watcher_workflow_engines.temporal]`` (oslo.config ``Opt`` objects)."""
    from oslo_config import cfg

    return [
        cfg.StrOpt("address", default=DEFAULT_ADDRESS, help="Temporal frontend host:port."),
        cfg.StrOpt("namespace", default=DEFAULT_NAMESPACE, help="Temporal namespace."),
        cfg.StrOpt("task_queue", default=DEFAULT_TASK_QUEUE, help="Task queue the watcher-temporal workers poll."),
        cfg.BoolOpt("tls", help="Use TLS (default: on when a TLS file or an API key file is set)."),
        cfg.StrOpt("tls_server_ca_cert_file", help="CA bundle that signs the Temporal frontend's certificate."),
        cfg.StrOpt("tls_client_cert_file", help="Client certificate (mTLS)."),
        cfg.StrOpt("tls_client_key_file", help="Client key (mTLS)."),
        cfg.StrOpt("tls_server_name", help="Server name for SNI and certificate checks."),
        cfg.StrOpt(
            "api_key_file",
            help="File holding a Temporal Cloud API key (the key itself never goes in watcher.conf).",
        ),
        cfg.StrOpt(
            "codec_key_file",
            help="File holding the payload encryption key shared with the workers (see docs/security).",
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
        cfg.IntOpt(
            "no_worker_timeout",
            default=DEFAULT_NO_WORKER_TIMEOUT,
            min=5,
            max=86400,
            help="Seconds a running plan's task queue may have no polling worker. The plan's status message "
            "names the queue as soon as it is seen without one (within 30 s); once this passes, the plan "
            "FAILS and its workflow is terminated, so that nothing moves later.",
        ),
    ]


@dataclass(frozen=True, kw_only=True)
class EngineSettings:
    """Everything the engine needs, resolved from its options.

    Attributes:
        temporal: Where Temporal is and which task queue the workers poll.
        codec: Payload encryption shared with the workers (keys never in this object's repr).
        failure_policy: The plan's ``on_failure``.
        max_parallel: The plan's global limit.
        max_parallel_per_host: The plan's per-host limit.
        max_parallel_per_source: The plan's per-source limit (None: none).
        max_parallel_per_destination: The plan's per-destination limit (None: none).
        barriers: Keep Watcher's barriers between migration chunks, or turn them into limits.
        status_interval: Seconds between two status reads.
        no_worker_timeout: Seconds a plan's task queue may have no polling worker before the plan fails.
    """

    temporal: TemporalSettings
    codec: CodecSettings = field(default_factory=CodecSettings)
    failure_policy: OnFailure = OnFailure.STOP
    max_parallel: int = 4
    max_parallel_per_host: int = 2
    max_parallel_per_source: int | None = DEFAULT_MAX_PARALLEL_PER_SOURCE
    max_parallel_per_destination: int | None = None
    barriers: BarrierMode = BarrierMode.KEEP
    status_interval: float = DEFAULT_STATUS_INTERVAL
    no_worker_timeout: float = DEFAULT_NO_WORKER_TIMEOUT

    def __repr__(self) -> str:  # the connection may hold an API key: never print it
        return (
            f"EngineSettings(address={self.temporal.address!r}, namespace={self.temporal.namespace!r}, "
            f"task_queue={self.temporal.task_queue!r}, failure_policy={self.failure_policy.value!r})"
        )


def where(config: Mapping[str, Any]) -> tuple[str, str, str]:
    """Address, namespace and task queue the options name (no file is read: safe for messages)."""
    return (
        str(config.get("address") or DEFAULT_ADDRESS),
        str(config.get("namespace") or DEFAULT_NAMESPACE),
        str(config.get("task_queue") or DEFAULT_TASK_QUEUE),
    )


def resolve(config: Mapping[str, Any]) -> EngineSettings:
    """The engine's settings from its options (as Watcher's loader hands them; unset ones are None).

    Raises:
        ValueError: an option names a file that cannot be read or holds a bad key
            (the message names the option, never the file's content).
    """
    address, namespace, task_queue = where(config)
    profile = ClientConfigProfile(
        address=address,
        namespace=namespace,
        api_key=_read(config, "api_key_file") if config.get("api_key_file") else None,
        tls=_tls(config),
    )
    try:
        connect = dict(profile.to_client_connect_config())  # reads the TLS files
    except OSError as err:
        raise ValueError(f"[{GROUP}] a TLS file cannot be read: {err.strerror}: {err.filename}") from None
    codec_file = config.get("codec_key_file")
    try:
        codec = CodecSettings.from_env({KEY_FILE_ENV: str(codec_file)} if codec_file else {})
    except ValueError as err:
        raise ValueError(f"[{GROUP}] codec_key_file: {err}") from None
    return EngineSettings(
        temporal=TemporalSettings(connect=connect, task_queue=task_queue),
        codec=codec,
        failure_policy=OnFailure(config.get("failure_policy") or OnFailure.STOP.value),
        max_parallel=int(config.get("max_parallel") or 4),
        max_parallel_per_host=int(config.get("max_parallel_per_host") or 2),
        max_parallel_per_source=_limit_or_none(config.get("max_parallel_per_source"), DEFAULT_MAX_PARALLEL_PER_SOURCE),
        max_parallel_per_destination=_limit_or_none(config.get("max_parallel_per_destination"), None),
        barriers=BarrierMode(config.get("barriers") or BarrierMode.KEEP.value),
        status_interval=float(config.get("status_interval") or DEFAULT_STATUS_INTERVAL),
        no_worker_timeout=float(config.get("no_worker_timeout") or DEFAULT_NO_WORKER_TIMEOUT),
    )


def _read(config: Mapping[str, Any], option: str) -> str:
    path = Path(str(config[option]))
    try:
        return path.read_text().strip()
    except OSError as err:
        raise ValueError(f"[{GROUP}] {option}: cannot read {path}: {err.strerror}") from None


def _tls(config: Mapping[str, Any]) -> ClientConfigTLS | None:
    ca, cert, key = (config.get(f"tls_{name}_file") for name in ("server_ca_cert", "client_cert", "client_key"))
    wanted = config.get("tls")
    if wanted is False:
        return ClientConfigTLS(disabled=True)
    if wanted is None and not (ca or cert or config.get("tls_server_name")):
        return None  # no TLS (or the API key's default TLS)
    return ClientConfigTLS(
        server_name=config.get("tls_server_name") or None,
        server_root_ca_cert=Path(str(ca)) if ca else None,
        client_cert=Path(str(cert)) if cert else None,
        client_private_key=Path(str(key)) if key else None,
    )


def _limit_or_none(value: Any, default: int | None) -> int | None:
    """An option's limit: unset → ``default``, 0 → no limit."""
    if value is None:
        return default
    return int(value) or None

"""``[watcher_workflow_engines.temporal]``: how Watcher's applier reaches Temporal.

The engine is configured from Watcher's configuration file only: the shell's
``TEMPORAL_*`` or ``WATCHER_TEMPORAL_*`` variables are not read (an applier
started from a shell that points elsewhere still runs its plans where
watcher.conf says). Unset options take the defaults the worker uses
(``localhost:7233``, namespace ``default``, task queue ``watcher-actions``).

Files named by options (API key, TLS material, codec key) are read by
:func:`resolve`, which the engine calls when a plan starts: a missing or bad
file fails that plan with one line naming the option, never the applier.

A value that breaks its option's rule (``max_parallel = lots``,
``failure_policy = sometimes``) is no different. oslo.config would raise when
Watcher's loader reads the group, before any engine exists, and Watcher's
handler would end the plan FAILED with no text. So the options' types keep such
a value as a :class:`BadValue`, and :func:`resolve` refuses it with one line
naming the option, the rule and the value, which the engine writes in the plan's
``status_message``. The options keep their oslo types, ranges and choices (what
``oslo-config-generator`` prints).

oslo.config is imported lazily (it comes with python-watcher, not with
watcher-temporal itself).
"""

from __future__ import annotations

import functools
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
from watcher_temporal.watcher_engine.translation import DEFAULT_QUEUED_PER_SOURCE

#: The engine's option group in Watcher's configuration.
GROUP = "watcher_workflow_engines.temporal"

#: Seconds between two reads of the workflow's status and of the plan's DB row
#: (cancel is seen within this interval plus one round trip).
DEFAULT_STATUS_INTERVAL = 0.5

#: Seconds a plan's task queue may go without a polling worker before the plan fails (its workflow
#: is terminated, so that nothing moves later).
DEFAULT_NO_WORKER_TIMEOUT = 300


@dataclass(frozen=True)
class BadValue:
    """An option's value that breaks its rule, kept so that a plan's start can name it.

    Attributes:
        text: The value as written (cut to 64 characters).
        rule: What the option takes.
    """

    text: str
    rule: str

    def __str__(self) -> str:
        return f"must be {self.rule}, got {self.text!r}"


def _lenient(kind: type, rule: str, **arguments: Any) -> Any:
    """An oslo.config type ``kind(**arguments)`` that answers a bad value with a :class:`BadValue`."""
    return _lenient_class(kind, rule)(**arguments)


@functools.cache
def _lenient_class(kind: type, rule: str) -> type:
    # One class per (type, rule): oslo.config compares an option registered twice by its type's class.
    class Lenient(kind):  # type: ignore[misc,valid-type]
        def __call__(self, value: Any) -> Any:
            try:
                return super().__call__(value)
            except ValueError:
                return BadValue(str(value)[:64], rule)

    return Lenient


def _int_opt(name: str, *, default: int, min: int, max: int, help: str) -> Any:
    from oslo_config import cfg, types

    kind = _lenient(types.Integer, f"an integer from {min} to {max}", min=min, max=max)
    return cfg.Opt(name, type=kind, default=default, help=help)


def _float_opt(name: str, *, default: float, min: float, max: float, help: str) -> Any:
    from oslo_config import cfg, types

    kind = _lenient(types.Float, f"a number from {min:g} to {max:g}", min=min, max=max)
    return cfg.Opt(name, type=kind, default=default, help=help)


def _choice_opt(name: str, *, default: str, choices: list[str], help: str) -> Any:
    from oslo_config import cfg, types

    kind = _lenient(types.String, "one of " + ", ".join(choices), choices=choices)
    return cfg.Opt(name, type=kind, default=default, help=help)


def config_opts() -> list[Any]:
    """The options of ``[watcher_workflow_engines.temporal]`` (oslo.config ``Opt`` objects)."""
    from oslo_config import cfg, types

    return [
        cfg.StrOpt("address", default=DEFAULT_ADDRESS, help="Temporal frontend host:port."),
        cfg.StrOpt("namespace", default=DEFAULT_NAMESPACE, help="Temporal namespace."),
        cfg.StrOpt("task_queue", default=DEFAULT_TASK_QUEUE, help="Task queue the watcher-temporal workers poll."),
        cfg.Opt(
            "tls",
            type=_lenient(types.Boolean, "true or false"),
            help="Use TLS (default: on when a TLS file or an API key file is set).",
        ),
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
        *_plan_opts(),
    ]


def _plan_opts() -> list[Any]:
    """The options that shape each plan (failure policy, limits, barriers) and how it is followed."""
    return [
        _choice_opt(
            "failure_policy",
            default=OnFailure.STOP.value,
            choices=[p.value for p in OnFailure],
            help="What a plan does once an action FAILED: stop (start nothing new; recommended), "
            "watcher (children of a failed action still run, like taskflow), continue "
            "(run what does not depend on it), rollback (stop, then revert what succeeded).",
        ),
        _int_opt("max_parallel", default=4, min=1, max=MAX_PARALLEL_LIMIT, help="Actions of one plan running at once."),
        _int_opt(
            "max_parallel_per_host",
            default=2,
            min=1,
            max=MAX_PARALLEL_LIMIT,
            help="Migrations touching one compute host (source or destination) at once.",
        ),
        _int_opt(
            "max_parallel_per_source",
            default=DEFAULT_MAX_PARALLEL_PER_SOURCE,
            min=0,
            max=MAX_PARALLEL_LIMIT,
            help="Migrations copying from one compute host at once: set it to Nova's "
            "max_concurrent_live_migrations (1 by default); 0: no limit.",
        ),
        _int_opt(
            "queued_per_source",
            default=DEFAULT_QUEUED_PER_SOURCE,
            min=0,
            max=MAX_PARALLEL_LIMIT,
            help="Migrations per source host sent ahead of max_parallel_per_source, to wait 'queued' in "
            "nova-compute (1, default: Nova starts the next one the instant a copy ends, with its API and "
            "conductor steps already done, as it does for taskflow's chunks; a queued one is visible in "
            "Nova and aborted on cancel); 0: send a source's next migration only once the previous one ended.",
        ),
        _int_opt(
            "max_parallel_per_destination",
            default=0,
            min=0,
            max=MAX_PARALLEL_LIMIT,
            help="Migrations entering one named destination host at once; 0 (default): no limit.",
        ),
        _choice_opt(
            "barriers",
            default=BarrierMode.KEEP.value,
            choices=[m.value for m in BarrierMode],
            help="keep: run Watcher's parents as they are, barriers between migration chunks included. "
            "limits: drop the parent edges between migrations (orderings with other action types stay) "
            "and set max_parallel to the widest chunk (Watcher's parallelization) instead.",
        ),
        _float_opt(
            "status_interval",
            default=DEFAULT_STATUS_INTERVAL,
            min=0.05,
            max=10,
            help="Seconds between two reads of a plan's workflow status and DB row; bounds how late "
            "action states reach the DB and how late a cancel is seen.",
        ),
        _int_opt(
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
        max_parallel_per_source: Migrations copying from one source at once (None: no limit).
        queued_per_source: Migrations per source sent ahead, to wait queued in nova-compute.
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
    queued_per_source: int = DEFAULT_QUEUED_PER_SOURCE
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
    bad = [f"{name} {value}" for name, value in config.items() if isinstance(value, BadValue)]
    if bad:
        raise ValueError(f"[{GROUP}] " + "; ".join(sorted(bad)))
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
        queued_per_source=_count(config.get("queued_per_source"), DEFAULT_QUEUED_PER_SOURCE),
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


def _count(value: Any, default: int) -> int:
    """An option's count: unset → ``default`` (0 stays 0)."""
    return default if value is None else int(value)

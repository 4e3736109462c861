"""The generic path: Watcher's own action class, run inside an activity.

For volume_migrate, change_node_power_state and any third-party action
registered in Watcher's ``watcher_actions`` entry points (every type the
plan has no branch of its own for), the activity loads the class the way Watcher's ``ActionFactory`` does
(entry point, then its JSON schema checks the parameters) and calls it the
way Watcher's taskflow container does:

* ``pre_condition()``: ``ActionSkipped`` → SKIPPED; any other error → FAILED;
* ``execute()``: anything but ``True`` → FAILED;
* ``post_condition()``: an error → FAILED.

The blocking calls run in a thread while the activity heartbeats; a cancelled
activity calls the action's ``abort()`` when Watcher says it has one
(``check_abort()``). Unlike :func:`~watcher_temporal.activities.blocking.call_blocking`,
which waits for the call before the cancel propagates, the cancel here aborts
while the call still runs: one Watcher ``execute()`` may last as long as a
whole migration. python-watcher is imported lazily: a worker without it
starts, and such an action FAILS naming what is missing. The worker reads
Watcher's configuration (Nova credentials of Watcher's own clients) from the
file :class:`~watcher_temporal.config.WatcherConfigSettings` names
(``WATCHER_TEMPORAL_WATCHER_CONFIG``) unless its process already parsed one
(an in-process test). oslo.service's threading backend is chosen before any
Watcher module loads (importing ``watcher.common.config`` would fix eventlet's).

Reasons are written as taskflow's container writes them: a Watcher exception's
text, any other exception's class name (``NotFound``), and for an ``execute()``
that returns anything but ``True`` Watcher's own "The action <id> execution failed."
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from typing import Any

from temporalio import activity

from watcher_temporal.config import WATCHER_CONFIG_ENV, WatcherConfigSettings
from watcher_temporal.contract import ActionState, PlanActivity, WatcherActionRequest, WatcherActionResult

logger = logging.getLogger(__name__)

#: Longest reason kept (it lands in history and in Watcher's status message).
MAX_REASON = 500
HEARTBEAT_SECONDS = 5.0

_config_lock = threading.Lock()


class WatcherUnavailable(RuntimeError):
    """python-watcher is missing or not configured on this worker."""


def _configure_watcher(settings: WatcherConfigSettings) -> None:
    """Parse Watcher's configuration once per process (unless it already was)."""
    with _config_lock:
        try:
            from oslo_config import cfg
            from oslo_service.backend import exceptions as backend_exceptions
            from watcher.common import oslo_service_helper
        except ImportError as err:
            raise WatcherUnavailable(f"python-watcher is not installed on this worker ({err.name})") from None
        try:  # before any other Watcher module: watcher.common.config would pick eventlet
            oslo_service_helper.init_oslo_service_backend()
        except backend_exceptions.BackendAlreadySelected:
            pass  # Watcher's own process (or a test) chose it first
        if getattr(cfg.CONF, "config_file", None):  # already parsed (Watcher's own process, or a test)
            return
        if not settings.config_file:
            raise WatcherUnavailable(f"set {WATCHER_CONFIG_ENV} to Watcher's configuration file on this worker")
        import watcher.common.service  # noqa: F401 - registers notification_level
        from watcher.common import config

        config.parse_args(["watcher-temporal-worker", "--config-file", settings.config_file])


def _load(request: WatcherActionRequest) -> Any:
    """The action object, as ``watcher.applier.actions.factory.ActionFactory`` makes it."""
    from watcher.applier.loading import default

    action = default.DefaultActionLoader().load(name=request.action_type, osc=None)
    action.input_parameters = dict(request.input_parameters)
    action.validate_parameters()
    return action


def _text(err: BaseException) -> str:
    text = str(err) or type(err).__name__
    return " ".join(text.split())[:MAX_REASON]


def _reason(err: BaseException) -> str:
    """What taskflow's container writes for a failure: a Watcher exception's text, else the class name."""
    from watcher.common import exception

    return _text(err) if isinstance(err, exception.WatcherException) else type(err).__name__


def _failed(phase: str, reason: str) -> WatcherActionResult:
    return WatcherActionResult(state=ActionState.FAILED, phase=phase, reason=reason)


def run_action(
    request: WatcherActionRequest, loaded: list[Any], settings: WatcherConfigSettings, progress: dict[str, Any]
) -> WatcherActionResult:
    """pre_condition → execute → post_condition, with taskflow's outcomes (blocking).

    ``progress`` is what this action got to, sent with every heartbeat: a retried attempt (its worker
    died, or its heartbeat timed out) does not run ``pre_condition`` again once ``execute`` started, so
    it never takes its own change for the world as it was (``change_nova_service_state`` would skip as
    "already in state"); once ``execute`` returned True it runs only ``post_condition``.
    """
    try:
        _configure_watcher(settings)
        from watcher.common import exception

        action = _load(request)
    except Exception as err:  # noqa: BLE001 - a bad action fails, it does not crash the worker
        return _failed("pre_condition", _text(err))
    loaded.append(action)
    if not progress.get("executing"):
        try:
            action.pre_condition()
        except exception.ActionSkipped as err:
            return WatcherActionResult(state=ActionState.SKIPPED, phase="pre_condition", reason=_text(err))
        except Exception as err:  # noqa: BLE001
            return _failed("pre_condition", _reason(err))
    if not progress.get("executed"):
        progress["executing"] = True
        try:
            done = action.execute()
        except Exception as err:  # noqa: BLE001
            return _failed("execute", _reason(err))
        if done is not True:  # taskflow raises ActionExecutionFailure and writes its text
            return _failed("execute", _text(exception.ActionExecutionFailure(action_id=request.action_id)))
        progress["executed"] = True
    try:
        action.post_condition()
    except Exception as err:  # noqa: BLE001
        return _failed("post_condition", _reason(err))
    return WatcherActionResult(state=ActionState.SUCCEEDED, phase="post_condition", reason=request.action_type)


def revert_action(
    request: WatcherActionRequest, loaded: list[Any], settings: WatcherConfigSettings, progress: dict[str, Any]
) -> WatcherActionResult:
    """Watcher's own ``revert()`` (blocking)."""
    try:
        _configure_watcher(settings)
        action = _load(request)
        loaded.append(action)
        action.revert()
    except Exception as err:  # noqa: BLE001
        return _failed("revert", _text(err))
    return WatcherActionResult(state=ActionState.SUCCEEDED, phase="revert", reason=f"{request.action_type} reverted")


async def _heartbeating(
    work: Callable[[WatcherActionRequest, list[Any], WatcherConfigSettings, dict[str, Any]], WatcherActionResult],
    request: WatcherActionRequest,
    settings: WatcherConfigSettings,
) -> WatcherActionResult:
    loaded: list[Any] = []
    details = activity.info().heartbeat_details  # what an earlier attempt of this action got to
    progress: dict[str, Any] = dict(details[0]) if details and isinstance(details[0], dict) else {}
    task = asyncio.ensure_future(asyncio.to_thread(work, request, loaded, settings, progress))
    try:
        while True:
            done, _ = await asyncio.wait([task], timeout=HEARTBEAT_SECONDS)
            if done:
                return task.result()
            activity.heartbeat(dict(progress))
    except asyncio.CancelledError:
        if loaded and _can_abort(loaded[0]):
            logger.info("aborting %s %s", request.action_type, request.action_id)
            await asyncio.to_thread(loaded[0].abort)
        raise


def _can_abort(action: Any) -> bool:
    try:
        return bool(action.check_abort())
    except Exception:  # noqa: BLE001 - an action without a working check cannot be aborted
        return False


class WatcherActionActivities:
    """The generic path's activities (no Nova gateway: Watcher's classes use their own clients).

    Args:
        settings: Where Watcher's configuration is; from the environment by default.
    """

    def __init__(self, settings: WatcherConfigSettings | None = None) -> None:
        self._settings = settings or WatcherConfigSettings.from_env()

    def all(self) -> list[Callable[..., object]]:
        """The activities to register on a worker."""
        return [self.run_watcher_action, self.revert_watcher_action]

    @activity.defn(name=PlanActivity.WATCHER_ACTION.value)
    async def run_watcher_action(self, request: WatcherActionRequest) -> WatcherActionResult:
        """Run one Watcher action with Watcher's own class; see the module docstring."""
        result = await _heartbeating(run_action, request, self._settings)
        logger.info("%s %s: %s %s", request.action_type, request.action_id, result.state.value, result.phase)
        return result

    @activity.defn(name=PlanActivity.WATCHER_ACTION_REVERT.value)
    async def revert_watcher_action(self, request: WatcherActionRequest) -> WatcherActionResult:
        """Revert one Watcher action with its class's ``revert()`` (rollback)."""
        return await _heartbeating(revert_action, request, self._settings)

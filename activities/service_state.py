"""The non-migrate actions of a maintenance plan: service state and nop.

``change_nova_service_state`` is idempotent: it reads the service first, and
before writing it records the state it found in its heartbeat details, so a
retry after a lost response still reports the state from *before* the change
(what the revert must restore) rather than mistaking its own change for a
state that was already there. ``sleep`` needs no activity: the workflow
sleeps on a durable timer.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable

from temporalio import activity

from watcher_temporal.contract import (
    NopRequest,
    PlanActivity,
    ServiceState,
    ServiceStateChange,
    ServiceStateRequest,
)
from watcher_temporal.errors import PreconditionFailed
from watcher_temporal.untrusted import one_line

from .blocking import call_blocking
from .nova import NovaGateway

logger = logging.getLogger(__name__)


class ServiceStateActivities:
    """Activities of ``change_nova_service_state`` and ``nop``, bound to Nova."""

    def __init__(self, nova: NovaGateway) -> None:
        self._nova = nova

    def all(self) -> list[Callable[..., object]]:
        """The activities to register on a worker."""
        return [self.change_nova_service_state, self.nop]

    @activity.defn(name=PlanActivity.CHANGE_SERVICE_STATE.value)
    async def change_nova_service_state(self, request: ServiceStateRequest) -> ServiceStateChange:
        """Put a host's nova-compute service in ``request.state``.

        Returns:
            The state found before; ``changed`` is False when the service
            already was in the requested state (the action is SKIPPED).

        Raises:
            PreconditionFailed: the host has no nova-compute service.
        """
        recorded = _recorded_before()
        recorded_details: tuple[ServiceStateChange, ...] = (recorded,) if recorded else ()
        service = await call_blocking(self._nova.compute_service, request.host, details=recorded_details)
        if service is None:
            raise PreconditionFailed(f"{request.host!r} is not a nova-compute host of this cloud")
        found = ServiceState.ENABLED if service.enabled else ServiceState.DISABLED
        if recorded is None:
            before = ServiceStateChange(
                host=request.host,
                previous_state=found,
                previous_disabled_reason=service.disabled_reason,
                changed=found is not request.state,
            )
            if not before.changed:
                return before
            # Recorded before writing: a retry must not take our change for the past.
            activity.heartbeat(before)
        else:
            before = recorded
            if found is request.state:
                return before
        await call_blocking(
            functools.partial(
                self._nova.set_compute_service_state,
                request.host,
                enabled=request.state is ServiceState.ENABLED,
                disabled_reason=request.disabled_reason,
            ),
            details=(before,),
        )
        logger.info("nova-compute on %s: %s -> %s", request.host, found.value, request.state.value)
        return before

    @activity.defn(name=PlanActivity.NOP.value)
    async def nop(self, request: NopRequest) -> None:
        """Watcher's ``nop``: log the message, change nothing."""
        logger.info("nop %s: %s", one_line(request.action_id), one_line(request.message))


def _recorded_before() -> ServiceStateChange | None:
    """The state an earlier attempt found, from its heartbeat details."""
    details = activity.info().heartbeat_details  # decoded by the SDK: plain JSON values
    return ServiceStateChange.model_validate(details[0]) if details else None

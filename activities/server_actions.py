"""Watcher's ``stop``, ``shelve``, ``delete`` and ``resize``, through the project's Nova gateway.

Each follows its Watcher 17 class (``watcher/applier/actions/<type>.py`` and
the ``NovaHelper`` calls they make), phase by phase:

========  ==========================================  ====================================  ==================
action    pre_condition (SKIPPED / FAILED)            execute (waits for)                   revert
========  ==========================================  ====================================  ==================
stop      server gone, or SHUTOFF → SKIPPED           vm_state ``stopped`` (gone = done)    start it again
shelve    server gone, or SHELVED[_OFFLOADED] → SKIP  vm_state ``shelved[_offloaded]``      nothing (Watcher)
delete    server gone → SKIPPED                       the server is gone (or soft-deleted)  nothing (Watcher)
resize    server gone → SKIPPED; unknown flavor →     status VERIFY_RESIZE, then confirms   nothing (Watcher)
          FAILED
========  ==========================================  ====================================  ==================

post_condition does nothing for any of them (as in Watcher). Failures are
results (state FAILED, the phase and why), not exceptions, like Watcher's
``execute()`` returning False; Nova being unreachable is an exception, which
Temporal retries. Idempotent: before its write the activity records it in its
heartbeat details, so a retry after a lost worker waits for the outcome
instead of re-checking the precondition (which would now SKIP) or writing twice.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import openstack.exceptions as os_exceptions
from temporalio import activity

from watcher_temporal.contract import (
    ActionState,
    ActionType,
    PlanActivity,
    ServerActionRequest,
    ServerSnapshot,
    WatcherActionResult,
)

from .blocking import call_blocking, sleep_heartbeating
from .nova import NovaGateway, nova_call

logger = logging.getLogger(__name__)

#: Heartbeat details once the write was sent: a retry waits for its outcome instead of writing again.
ISSUED = ("issued",)
#: vm_states each action waits for.
DONE_VM_STATES = {
    ActionType.STOP: frozenset({"stopped"}),
    ActionType.SHELVE: frozenset({"shelved", "shelved_offloaded"}),
    ActionType.DELETE: frozenset({"soft-delete", "deleted"}),
}
#: Nova statuses that make stop / shelve a no-op (SKIPPED).
ALREADY = {ActionType.STOP: frozenset({"SHUTOFF"}), ActionType.SHELVE: frozenset({"SHELVED", "SHELVED_OFFLOADED"})}


class ServerCalls:
    """The few Nova writes these actions need, with the gateway's error taxonomy."""

    def __init__(self, nova: NovaGateway) -> None:
        self._nova = nova

    def get(self, server_id: str) -> ServerSnapshot | None:
        return self._nova.get_server(server_id)

    @nova_call("stop server")
    def stop(self, server_id: str) -> None:
        self._nova.conn.compute.stop_server(server_id)

    @nova_call("start server")
    def start(self, server_id: str) -> None:
        self._nova.conn.compute.start_server(server_id)

    @nova_call("shelve server")
    def shelve(self, server_id: str) -> None:
        self._nova.conn.compute.shelve_server(server_id)

    @nova_call("delete server")
    def delete(self, server_id: str) -> None:
        try:
            self._nova.conn.compute.delete_server(server_id)
        except os_exceptions.NotFoundException:
            return

    @nova_call("resize server")
    def resize(self, server_id: str, flavor_id: str) -> None:
        self._nova.conn.compute.resize_server(server_id, flavor_id)

    def confirm_resize(self, server_id: str) -> None:
        self._nova.confirm_resize(server_id)

    @nova_call("find flavor", read=True)
    def flavor_id(self, name_or_id: str) -> str | None:
        flavor = self._nova.conn.compute.find_flavor(name_or_id, ignore_missing=True)
        return None if flavor is None else str(flavor.id)


def _result(state: ActionState, phase: str, reason: str) -> WatcherActionResult:
    return WatcherActionResult(state=state, phase=phase, reason=reason)


class ServerActionActivities:
    """Activities of stop, shelve, delete and resize, bound to Nova."""

    def __init__(self, nova: NovaGateway) -> None:
        self._calls = ServerCalls(nova)

    def all(self) -> list[Callable[..., object]]:
        """The activities to register on a worker."""
        return [self.server_action, self.revert_server_action]

    @activity.defn(name=PlanActivity.SERVER_ACTION.value)
    async def server_action(self, request: ServerActionRequest) -> WatcherActionResult:
        """pre_condition, execute (with its wait), post_condition; see the module docstring."""
        issued = bool(activity.info().heartbeat_details)
        server = await call_blocking(self._calls.get, request.resource_id, details=ISSUED if issued else ())
        if not issued:
            skipped = await self._pre_condition(request, server)
            if skipped is not None:
                return skipped
        if server is None:  # gone since we wrote: stop / delete are done, shelve / resize are not
            done = request.action_type in (ActionType.STOP, ActionType.DELETE)
            state = ActionState.SUCCEEDED if done else ActionState.FAILED
            return _result(state, "execute", f"instance {request.resource_id} not found")
        activity.heartbeat(*ISSUED)  # before the write: a retry waits instead of writing again
        if request.action_type is ActionType.RESIZE:
            return await self._resize(request, issued=issued)
        if not issued and server.vm_state not in DONE_VM_STATES[request.action_type]:
            write = {ActionType.STOP: self._calls.stop, ActionType.SHELVE: self._calls.shelve}.get(
                request.action_type, self._calls.delete
            )
            await call_blocking(write, request.resource_id, details=ISSUED)
        reached = await self._wait(request, lambda s: s is None or s.vm_state in DONE_VM_STATES[request.action_type])
        if reached:
            return _result(ActionState.SUCCEEDED, "post_condition", f"{request.action_type.value} done")
        return _result(
            ActionState.FAILED,
            "execute",
            f"instance {request.resource_id} not {request.action_type.value} after {request.timeout_seconds:g}s",
        )

    @activity.defn(name=PlanActivity.SERVER_ACTION_REVERT.value)
    async def revert_server_action(self, request: ServerActionRequest) -> WatcherActionResult:
        """Watcher's ``revert()``: stop starts the server again; the others revert nothing."""
        if request.action_type is not ActionType.STOP:
            return _result(ActionState.SKIPPED, "revert", f"Watcher does not revert {request.action_type.value}")
        server = await call_blocking(self._calls.get, request.resource_id)
        if server is None:
            return _result(ActionState.FAILED, "revert", f"instance {request.resource_id} not found")
        if server.vm_state != "active":
            await call_blocking(self._calls.start, request.resource_id)
        if await self._wait(request, lambda s: s is not None and s.vm_state == "active"):
            return _result(ActionState.SUCCEEDED, "revert", f"started {request.resource_id} again")
        return _result(ActionState.FAILED, "revert", f"instance {request.resource_id} did not start")

    # -- steps --------------------------------------------------------------

    async def _pre_condition(
        self, request: ServerActionRequest, server: ServerSnapshot | None
    ) -> WatcherActionResult | None:
        if server is None:
            return _result(ActionState.SKIPPED, "pre_condition", f"Instance {request.resource_id} not found")
        if server.status in ALREADY.get(request.action_type, ()):
            verb = "stopped" if request.action_type is ActionType.STOP else "shelved"
            return _result(ActionState.SKIPPED, "pre_condition", f"Instance {request.resource_id} is already {verb}")
        if request.action_type is ActionType.RESIZE:
            flavor = await call_blocking(self._calls.flavor_id, request.flavor or "")
            if flavor is None:
                return _result(ActionState.FAILED, "pre_condition", f"Flavor {request.flavor} not found")
        return None

    async def _resize(self, request: ServerActionRequest, *, issued: bool) -> WatcherActionResult:
        flavor = await call_blocking(self._calls.flavor_id, request.flavor or "", details=ISSUED)
        if flavor is None:
            return _result(ActionState.FAILED, "execute", f"Flavor {request.flavor} not found")
        if not issued:
            await call_blocking(self._calls.resize, request.resource_id, flavor, details=ISSUED)
        if not await self._wait(request, lambda s: s is None or s.status in ("VERIFY_RESIZE", "ERROR", "ACTIVE")):
            return _result(ActionState.FAILED, "execute", f"resize of {request.resource_id} did not finish in time")
        server = await call_blocking(self._calls.get, request.resource_id, details=ISSUED)
        if server is not None and server.status == "VERIFY_RESIZE":
            await call_blocking(self._calls.confirm_resize, request.resource_id, details=ISSUED)
            server = await call_blocking(self._calls.get, request.resource_id, details=ISSUED)
        if server is None or server.status == "ERROR":
            return _result(ActionState.FAILED, "execute", f"resize of {request.resource_id} failed")
        return _result(ActionState.SUCCEEDED, "post_condition", f"resized to {request.flavor}")

    async def _wait(self, request: ServerActionRequest, done: Callable[[ServerSnapshot | None], Any]) -> bool:
        deadline = time.monotonic() + request.timeout_seconds
        while True:
            server = await call_blocking(self._calls.get, request.resource_id, details=ISSUED)
            if done(server):
                return True
            if time.monotonic() >= deadline:
                return False
            activity.heartbeat(*ISSUED)
            await sleep_heartbeating(request.poll_interval_seconds, details=ISSUED)

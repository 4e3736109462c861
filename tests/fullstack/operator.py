"""What a Watcher operator types: ``openstack optimize ...`` against the stack, parsed.

Every call runs the ``openstack`` CLI (python-openstackclient with
python-watcherclient's ``optimize`` commands) with only the environment that
``scripts/watcher-stack`` exports.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from tests.fullstack.stack import StackError, WatcherServiceStack

#: States after which an action plan changes no more.
PLAN_FINAL = frozenset({"SUCCEEDED", "FAILED", "CANCELLED", "SUPERSEDED", "DELETED"})


class Operator:
    """``openstack optimize`` commands, each one CLI run.

    Args:
        stack: The running stack (its exported environment).
    """

    def __init__(self, stack: WatcherServiceStack) -> None:
        self.stack = stack

    def json(self, *args: str) -> Any:
        return json.loads(self.stack.openstack("optimize", *args, "-f", "json").stdout)

    # -- audits ---------------------------------------------------------------

    def audit(self, *, goal: str, strategy: str, parameters: dict[str, Any] | None = None) -> str:
        """``audit create -g GOAL -s STRATEGY [-p name=value ...]``; wait until it is over; return its uuid."""
        args = ["audit", "create", "-g", goal, "-s", strategy]
        for name, value in (parameters or {}).items():
            args += ["-p", f"{name}={json.dumps(value) if not isinstance(value, str) else value}"]
        uuid = self.json(*args)["UUID"]
        audit = self.wait(lambda: self.json("audit", "show", uuid), lambda a: a["State"] in ("SUCCEEDED", "FAILED"))
        if audit["State"] != "SUCCEEDED":
            raise StackError(f"audit {uuid} ended {audit['State']}: {audit.get('Status Message')}")
        return uuid

    def plan_of(self, audit_uuid: str) -> str:
        [plan] = self.json("actionplan", "list", "--audit", audit_uuid)
        return str(plan["UUID"])

    def plan_for(self, *, goal: str, strategy: str, parameters: dict[str, Any] | None = None) -> str:
        """The action plan the decision engine built for a new audit."""
        return self.plan_of(self.audit(goal=goal, strategy=strategy, parameters=parameters))

    def actuator_plan(self, actions: list[dict[str, Any]]) -> str:
        """A plan of exactly these actions (Watcher's ``actuator`` strategy)."""
        return self.plan_for(goal="unclassified", strategy="actuator", parameters={"actions": actions})

    # -- plans ----------------------------------------------------------------

    def start(self, plan_uuid: str) -> None:
        self.json("actionplan", "start", plan_uuid)

    def cancel(self, plan_uuid: str) -> None:
        self.stack.openstack("optimize", "actionplan", "cancel", plan_uuid)

    def plan(self, plan_uuid: str) -> dict[str, Any]:
        return dict(self.json("actionplan", "show", plan_uuid))

    def wait_plan(self, plan_uuid: str, *, timeout: float = 180.0) -> dict[str, Any]:
        """Until the plan is in a final state; return ``actionplan show``."""
        return self.wait(lambda: self.plan(plan_uuid), lambda p: p["State"] in PLAN_FINAL, timeout=timeout)

    def actions(self, plan_uuid: str) -> list[dict[str, Any]]:
        return list(self.json("action", "list", "--action-plan", plan_uuid, "--detail"))

    def action(self, action_uuid: str) -> dict[str, Any]:
        return dict(self.json("action", "show", action_uuid))

    def model(self) -> list[dict[str, Any]]:
        """``datamodel list``: the decision engine's compute model (server → node)."""
        return list(self.json("datamodel", "list"))

    def wait_model(self, hosts: dict[str, str], *, timeout: float = 120.0) -> None:
        """Until the decision engine's model places each server (id → host) where Nova has it."""

        def placed(rows: list[dict[str, Any]]) -> bool:
            seen = {row["Server UUID"]: row["Node Host Name"] for row in rows}
            return all(seen.get(sid) == host for sid, host in hosts.items())

        self.wait(self.model, placed, timeout=timeout)

    @staticmethod
    def wait(read: Callable[[], Any], done: Callable[[Any], bool], *, timeout: float = 180.0) -> Any:
        """Poll ``read()`` (one CLI run per poll) until ``done(value)``."""
        deadline = time.monotonic() + timeout
        while True:
            value = read()
            if done(value):
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"not done after {timeout:.0f} s: {str(value)[:500]}")
            time.sleep(0.5)


def updated_at(record: dict[str, Any]) -> float:
    """The ``Updated At`` of a ``show`` as a Unix time."""
    return datetime.fromisoformat(record["Updated At"]).timestamp()

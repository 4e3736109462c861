"""The vocabulary of ``undrain-host``: bring a drained host back into service.

``UndrainHost`` re-enables a host's nova-compute service only when the
host's drain disabled it (its ``disable-<host>`` action SUCCEEDED and the
service's ``disabled_reason`` is still ``watcher_maintaining``) and, with
``move_back``, moves back the servers that drain moved, as a plan. Free of
I/O, importable by workflows, activities and the CLI.
"""

from __future__ import annotations

from pydantic import Field

from watcher_temporal.contract.drain import LeftBehind
from watcher_temporal.contract.limits import MAX_PARALLEL_LIMIT
from watcher_temporal.contract.message import Message
from watcher_temporal.contract.migrate import HostName
from watcher_temporal.contract.plan import MaintenancePlanInput, OnFailure, PlanStatus


class UndrainRequest(Message):
    """What ``undrain-host`` asks for.

    Attributes:
        host: The drained host (its drain ran as ``drain-<host>``).
        move_back: Also move back the servers the drain moved that are still
            where the drain put them, each the way it left (live or cold).
        max_parallel: The plan's global limit.
        on_failure: The plan's failure policy.
        dry_run: Build the plan and return it; change nothing.
    """

    host: HostName
    move_back: bool = False
    max_parallel: int = Field(default=4, ge=1, le=MAX_PARALLEL_LIMIT)
    on_failure: OnFailure = OnFailure.STOP
    dry_run: bool = False


class UndrainPlan(Message):
    """What the undrain will do, built from the drain's record and live Nova.

    Attributes:
        host: The host.
        enables: The plan re-enables the host's compute service.
        enable_reason: Why it does, or why not.
        plan: The ``MaintenancePlan`` input (None: nothing to run).
        left_behind: Servers the drain moved that are not moved back, and why.
    """

    host: str
    enables: bool
    enable_reason: str
    plan: MaintenancePlanInput | None = None
    left_behind: list[LeftBehind] = Field(default_factory=list)


class UndrainResult(UndrainPlan):
    """Result of an ``UndrainHost`` workflow: the plan and how it ran.

    Attributes:
        dry_run: True when the plan was only built.
        status: How the plan ran (absent for a dry run or an empty plan).
    """

    dry_run: bool = False
    status: PlanStatus | None = None

"""Every name that crosses a process boundary: workflow types, ids, task queue, queries, signals, updates, activities.

Starters, the CLI, parent workflows, workers and Watcher's applier agree on
these strings; Temporal stores them in histories, so **none of them ever
changes** (a renamed workflow type orphans every running workflow of the old
name). Pure constants and string functions: importable anywhere, workflow
code included.
"""

from __future__ import annotations

import enum
import hashlib
import re
import uuid
from datetime import timedelta

#: Task queue the worker polls unless ``TEMPORAL_TASK_QUEUE`` says otherwise.
DEFAULT_TASK_QUEUE = "watcher-actions"
#: Workflow task timeout of every workflow the project starts (Temporal's
#: default is 10 s): a workflow task lost with a dead worker is handed to
#: another after this long. Our workflow tasks take milliseconds.
WORKFLOW_TASK_TIMEOUT = timedelta(seconds=5)


class WorkflowType(enum.StrEnum):
    """Registered workflow type names."""

    MIGRATE_SERVER = "MigrateServer"
    MAINTENANCE_PLAN = "MaintenancePlan"
    DRAIN_HOST = "DrainHost"
    UNDRAIN_HOST = "UndrainHost"
    #: Several hosts (a rack) drained at once: ``drain-hosts``.
    DRAIN_HOSTS = "DrainHosts"
    #: Superseded by ``DrainHost``; still registered so runs started by an
    #: older CLI finish.
    BUILD_DRAIN_PLAN = "BuildDrainPlan"


class MigrateActivity(enum.StrEnum):
    """Registered names of the migrate activities.

    Workflows call activities by these names, so workflow code never imports
    the activity modules (and, through them, openstacksdk).
    """

    PRE_EXECUTE = "migrate.pre_execute"
    EXECUTE = "migrate.execute"
    WAIT = "migrate.wait_for_migration"
    POST_EXECUTE = "migrate.post_execute"
    REVERT = "migrate.revert"
    FORCE_COMPLETE = "migrate.force_complete"


class PlanActivity(enum.StrEnum):
    """Registered names of the plan's own activities."""

    CHANGE_SERVICE_STATE = "plan.change_nova_service_state"
    NOP = "plan.nop"
    BUILD_DRAIN_PLAN = "plan.build_drain_plan"
    BUILD_UNDRAIN_PLAN = "plan.build_undrain_plan"
    #: Watcher's stop / shelve / delete / resize on one server.
    SERVER_ACTION = "plan.server_action"
    SERVER_ACTION_REVERT = "plan.server_action_revert"
    #: Any other Watcher action type, run by Watcher's own class.
    WATCHER_ACTION = "plan.watcher_action"
    WATCHER_ACTION_REVERT = "plan.watcher_action_revert"
    #: How a ``MigrateServer`` child the plan cancelled left its server (its memo).
    CANCELLED_MIGRATION = "plan.cancelled_migration"
    #: Several hosts' drain plan (``DrainHosts``).
    BUILD_DRAIN_HOSTS_PLAN = "plan.build_drain_hosts_plan"
    #: The flavor sizes of a plan's migrated servers (duration estimates).
    MIGRATION_SIZES = "plan.migration_sizes"


#: Query of ``MigrateServer``: its :class:`MigrationProgress`.
PROGRESS_QUERY = "progress"
#: Signal the waiting activity sent its workflow with progress (histories
#: recorded before progress moved to heartbeats still carry it).
PROGRESS_SIGNAL = "report_progress"
#: Update of ``MigrateServer``: force-complete its running live migration.
FORCE_COMPLETE_UPDATE = "force_complete"
#: Query of ``MaintenancePlan`` and ``DrainHost``: their :class:`PlanStatus`.
STATUS_QUERY = "status"
#: Query of ``DrainHost``: its :class:`DrainResult` so far (what ``UndrainHost`` reads).
DRAIN_QUERY = "drain"
#: Update of ``MaintenancePlan`` and ``DrainHost``: a new global limit.
SET_MAX_PARALLEL_UPDATE = "set_max_parallel"
#: Update of ``MaintenancePlan`` and ``DrainHost``: any of the window's limits
#: (:class:`~watcher_temporal.contract.limits.WindowLimitsChange`).
SET_LIMITS_UPDATE = "set_limits"

#: The query that reports progress, per workflow type.
PROGRESS_QUERIES: dict[str, str] = {
    WorkflowType.MIGRATE_SERVER: PROGRESS_QUERY,
    WorkflowType.MAINTENANCE_PLAN: STATUS_QUERY,
    WorkflowType.DRAIN_HOST: STATUS_QUERY,
    WorkflowType.UNDRAIN_HOST: STATUS_QUERY,
    WorkflowType.DRAIN_HOSTS: STATUS_QUERY,
}

MIGRATION_ID_PREFIX = "migrate-"
#: A UUID in its canonical spelling (lower-case, hyphenated): ``str(uuid.UUID(x)) == x``.
CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
PLAN_ID_PREFIX = "plan-"
DRAIN_ID_PREFIX = "drain-"
UNDRAIN_ID_PREFIX = "undrain-"
DRAIN_HOSTS_ID_PREFIX = "drain-hosts-"
#: Longest host list a ``drain-hosts-...`` id spells out; longer ones end in a digest.
_MAX_SPELLED_HOSTS = 200
WATCHER_PLAN_ID_PREFIX = "plan-watcher-"
#: What may follow ``plan-`` in a plan's workflow id.
_PLAN_SUFFIX = re.compile(r"[a-z0-9][a-z0-9._:-]{0,199}")


def migration_workflow_id(server_id: str) -> str:
    """The one workflow id of a server's migration: ``migrate-<lower-case uuid>``.

    One id per server means Temporal itself refuses a second concurrent
    migration of the same server, whoever starts it; ``MigrateServer`` refuses
    to run under any other id.
    """
    if CANONICAL_UUID.fullmatch(server_id):  # already canonical: skip parsing (plans of 10,000 build 5,000 ids)
        return f"{MIGRATION_ID_PREFIX}{server_id}"
    return f"{MIGRATION_ID_PREFIX}{uuid.UUID(server_id)}"


def drain_workflow_id(host: str) -> str:
    """The one workflow id of a host's drain: ``drain-<host>``, so a host is never drained twice at once."""
    return f"{DRAIN_ID_PREFIX}{host}"


def drain_hosts_workflow_id(hosts: list[str]) -> str:
    """The workflow id of a drain of several hosts: ``drain-hosts-<h1>+<h2>...`` (sorted).

    The same set always gets the same id, so it is never drained twice at
    once; a list longer than 200 characters is cut and ends in ``-<12 hex>``
    of its SHA-256.
    """
    spelled = "+".join(sorted(set(hosts)))
    if len(spelled) > _MAX_SPELLED_HOSTS:
        digest = hashlib.sha256(spelled.encode()).hexdigest()[:12]
        spelled = f"{spelled[:_MAX_SPELLED_HOSTS]}-{digest}"
    return f"{DRAIN_HOSTS_ID_PREFIX}{spelled}"


def undrain_workflow_id(host: str) -> str:
    """The one workflow id of a host's undrain: ``undrain-<host>``."""
    return f"{UNDRAIN_ID_PREFIX}{host}"


def watcher_plan_workflow_id(action_plan_uuid: str) -> str:
    """The workflow id of a Watcher action plan run by the ``temporal`` engine."""
    return f"{WATCHER_PLAN_ID_PREFIX}{uuid.UUID(action_plan_uuid)}"


def plan_id_problem(workflow_id: str) -> str | None:
    """Why ``workflow_id`` is not a canonical ``MaintenancePlan`` id, or None.

    Plans run as ``plan-<name>``: lower-case letters, digits and ``._:-``,
    so ids that differ only in case or in look-alike characters cannot name
    two plans at once.
    """
    suffix = workflow_id.removeprefix(PLAN_ID_PREFIX)
    if suffix == workflow_id or not _PLAN_SUFFIX.fullmatch(suffix):
        return "a MaintenancePlan runs as plan-<name>, <name> of lower-case letters, digits and ._:- (max 200)"
    return None

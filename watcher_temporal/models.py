"""The shared, serialisable vocabulary of watcher-temporal.

Every message that crosses a Temporal boundary (workflow input and result,
activity requests and results, queries, signals) is one of the pydantic models
below, so the same JSON shape is seen by the Python client, the ``temporal``
CLI, parent workflows and the Web UI. Workflows and activities both import this
module; it must stay free of I/O and of openstacksdk.

The workflow input accepts Watcher's own ``migrate`` action keys unchanged
(``resource_id``, ``migration_type``, ``source_node``, ``destination_node``,
``resource_name``) and is stricter than Watcher's schema: unknown keys, a
malformed UUID, an empty host or ``destination_node == source_node`` are
rejected before any Nova call.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Annotated, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from watcher_temporal.errors import InvalidInput

#: Task queue the worker polls unless ``TEMPORAL_TASK_QUEUE`` says otherwise.
DEFAULT_TASK_QUEUE = "watcher-actions"

#: Watcher's applier defaults (``[watcher_applier]`` poll interval / timeout).
DEFAULT_POLL_INTERVAL_SECONDS = 5.0
DEFAULT_TIMEOUT_SECONDS = 900.0

#: Nova microversion needed to name a destination host for a cold migration
#: (and the first one where a live migration to a host goes through the
#: scheduler without ``force``).
DESTINATION_MICROVERSION = "2.56"


def migration_workflow_id(server_id: str) -> str:
    """Return the workflow id every starter uses for a server's migration.

    One id per server means Temporal itself refuses a second concurrent
    migration of the same server, whichever starter (CLI, Python, parent plan)
    tries it.
    """
    return f"migrate-{server_id}"


def _canonical_uuid(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except (ValueError, AttributeError, TypeError):
        raise ValueError("must be a server UUID, e.g. 0b5b6c5a-9b8e-4f0a-8f4e-6f1d2b3c4d5e") from None


def _host_name(value: str) -> str:
    if not value.strip():
        raise ValueError("must be a non-empty compute host name")
    if value != value.strip():
        raise ValueError("must not start or end with white space")
    return value


ServerUUID = Annotated[str, AfterValidator(_canonical_uuid)]
HostName = Annotated[str, AfterValidator(_host_name)]


class _Model(BaseModel):
    """Base for every message: immutable, unknown keys refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class MigrationType(enum.StrEnum):
    """Watcher's ``migration_type``."""

    LIVE = "live"
    COLD = "cold"


class MigrationStatus(enum.StrEnum):
    """How a ``MigrateServer`` workflow that returned a result ended.

    A precondition failure, an unrecoverable revert and a cancellation are not
    results: they fail (or cancel) the workflow, so Temporal, the Web UI and
    parent workflows see them as such.
    """

    SUCCEEDED = "SUCCEEDED"
    SKIPPED = "SKIPPED"
    REVERTED = "REVERTED"


class Phase(enum.StrEnum):
    """Where a migration workflow is; reported by the ``progress`` query."""

    VALIDATING = "validating"
    PRE_EXECUTE = "pre_execute"
    EXECUTE = "execute"
    WAITING = "waiting"
    POST_EXECUTE = "post_execute"
    REVERTING = "reverting"
    DONE = "done"


class MigrateServerInput(_Model):
    """Input of the ``MigrateServer`` workflow: Watcher's ``migrate`` action.

    Attributes:
        resource_id: UUID of the server to move.
        migration_type: ``live`` or ``cold``.
        source_node: Compute host the server must be on; otherwise SKIPPED.
        destination_node: Compute host to move to; absent or null lets the
            Nova scheduler pick.
        resource_name: Server name, informational only.
        poll_interval_seconds: How often Nova is polled while waiting.
        timeout_seconds: How long the migration may take before it is
            aborted and reverted (also bounds the revert).
    """

    resource_id: ServerUUID
    migration_type: MigrationType
    source_node: HostName
    destination_node: HostName | None = None
    resource_name: str | None = None
    poll_interval_seconds: float = Field(default=DEFAULT_POLL_INTERVAL_SECONDS, gt=0, le=300)
    timeout_seconds: float = Field(default=DEFAULT_TIMEOUT_SECONDS, gt=0, le=7 * 24 * 3600)

    @model_validator(mode="after")
    def _destination_differs(self) -> MigrateServerInput:
        if self.destination_node is not None and self.destination_node == self.source_node:
            raise ValueError("destination_node must differ from source_node")
        return self


def describe_validation_error(err: ValidationError) -> list[dict[str, str]]:
    """Turn a pydantic error into ``[{"field": ..., "rule": ...}]`` entries.

    The list names every bad field once per broken rule, so an operator
    fixes all of them in one go instead of one per attempt.
    """
    problems = []
    for item in err.errors(include_url=False):
        field = ".".join(str(p) for p in item["loc"]) or "(input)"
        rule = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            rule = "unknown key (not a field of the migrate action)"
        problems.append({"field": field, "rule": rule})
    return problems


ModelT = TypeVar("ModelT", bound=BaseModel)


def validate_input(model: type[ModelT], raw: object, *, what: str) -> ModelT:
    """Validate raw workflow input; raise ``InvalidInput`` naming every bad field.

    Workflows take raw JSON (not only their model) so that bad input fails
    the workflow with this readable, non-retryable error instead of failing
    payload decoding, which Temporal would retry as a workflow-task failure.

    Args:
        model: The input model.
        raw: What the starter sent (a model instance or plain JSON).
        what: Names the input in the message, e.g. ``"MigrateServer input"``.
    """
    if isinstance(raw, model):
        return raw
    try:
        return model.model_validate(raw)
    except ValidationError as err:
        problems = describe_validation_error(err)
        text = "; ".join(f"{p['field']}: {p['rule']}" for p in problems)
        raise InvalidInput(f"invalid {what}: {text}", problems) from None


class ServerSnapshot(_Model):
    """What Nova said about a server at one moment (no secrets, no addresses)."""

    id: str
    name: str | None = None
    status: str
    host: str | None = None
    task_state: str | None = None
    vm_state: str | None = None


class PreExecuteResult(_Model):
    """Outcome of the precondition check.

    ``skip_reason`` set means Watcher would mark the action SKIPPED; a failed
    precondition is raised as ``PreconditionFailed`` instead.
    """

    server: ServerSnapshot | None = None
    skip_reason: str | None = None
    baseline_migration_id: int | None = None


class ExecuteRequest(_Model):
    """Start (or adopt) the migration described by ``params``."""

    params: MigrateServerInput
    original: ServerSnapshot
    baseline_migration_id: int | None = None


class ExecuteResult(_Model):
    """The Nova migration that is now running (or already finished).

    Attributes:
        migration_id: Nova's migration id (``os-migrations`` id), when found.
        adopted: True when an earlier attempt had already started it.
        already_moved: True when the server had left the source already.
    """

    migration_id: str | None = None
    adopted: bool = False
    already_moved: bool = False


class WaitRequest(_Model):
    """Wait until Nova finishes the migration, or ``deadline`` passes."""

    params: MigrateServerInput
    original: ServerSnapshot
    migration_id: str | None = None
    baseline_migration_id: int | None = None
    deadline: datetime


class MigrationProgressReport(_Model):
    """What the waiting activity last saw; its heartbeat details and signal."""

    migration_id: str | None = None
    nova_migration_status: str | None = None
    memory_total_bytes: int | None = None
    memory_processed_bytes: int | None = None
    memory_remaining_bytes: int | None = None
    server_status: str | None = None
    task_state: str | None = None
    host: str | None = None
    polls: int = 0
    attempt: int = 1
    resize_confirmed: bool = False


class WaitResult(_Model):
    """How Nova finished: the server's end state and the migration record."""

    server: ServerSnapshot
    nova_migration_status: str | None = None
    polls: int


class PostExecuteRequest(_Model):
    """Check the end state against what the migration promised."""

    params: MigrateServerInput
    original: ServerSnapshot


class RevertAction(enum.StrEnum):
    """What the compensation had to do to put the server back."""

    NOTHING_TO_DO = "nothing_to_do"
    ABORTED = "aborted"
    RESIZE_REVERTED = "resize_reverted"
    MIGRATED_BACK = "migrated_back"


class RevertRequest(_Model):
    """Put the server back on ``params.source_node`` in its original status."""

    params: MigrateServerInput
    original: ServerSnapshot
    migration_id: str | None = None
    baseline_migration_id: int | None = None
    deadline: datetime


class RevertProgress(_Model):
    """Heartbeat details of the revert activity, so a retry resumes its plan."""

    steps: list[str] = Field(default_factory=list)
    aborted: list[str] = Field(default_factory=list)
    moving_back: bool = False
    resize_reverted: bool = False


class RevertResult(_Model):
    """Outcome of the compensation.

    Attributes:
        action: The strongest step taken (aborting beats nothing; moving
            back beats aborting).
        steps: Every step taken, in order, for the operator.
        server: The server as it was left.
    """

    action: RevertAction
    steps: list[str] = Field(default_factory=list)
    server: ServerSnapshot | None = None


class MigrationProgress(_Model):
    """Answer of the ``progress`` query, for CLIs and parent workflows."""

    phase: Phase = Phase.VALIDATING
    resource_id: str | None = None
    migration_id: str | None = None
    nova_migration_status: str | None = None
    memory_total_bytes: int | None = None
    memory_remaining_bytes: int | None = None
    attempts: dict[str, int] = Field(default_factory=dict)
    revert: RevertResult | None = None
    error: str | None = None


class Timings(_Model):
    """Wall-clock of the workflow (workflow time, so replay-safe)."""

    started_at: datetime
    finished_at: datetime
    seconds: float
    phases: dict[str, float] = Field(default_factory=dict)


class MigrationResult(_Model):
    """Result of a ``MigrateServer`` workflow that did not fail or cancel."""

    status: MigrationStatus
    reason: str
    resource_id: str
    resource_name: str | None = None
    migration_type: MigrationType
    source_node: str
    destination_node: str | None = None
    final_host: str | None = None
    migration_id: str | None = None
    revert: RevertResult | None = None
    timings: Timings


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


#: Query name of ``MigrateServer``'s progress.
PROGRESS_QUERY = "progress"
#: Signal the waiting activity sends its workflow (throttled) with progress.
PROGRESS_SIGNAL = "report_progress"

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
import math
import re
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field, model_validator

from watcher_temporal.contract.message import Message
from watcher_temporal.contract.names import CANONICAL_UUID

#: Watcher's applier defaults (``[watcher_applier]`` poll interval / timeout).
DEFAULT_POLL_INTERVAL_SECONDS = 5.0
DEFAULT_TIMEOUT_SECONDS = 900.0
#: Bounds of the poll interval: Nova is asked at most 5 times a second.
MIN_POLL_INTERVAL_SECONDS = 0.2
MAX_POLL_INTERVAL_SECONDS = 300.0
#: Longest timeout a migration or revert may be given (one week).
MAX_TIMEOUT_SECONDS = 7 * 24 * 3600.0
DEFAULT_REVERT_TIMEOUT_SECONDS = 900.0

#: Nova microversion needed to name a destination host for a cold migration
#: (and the first one where a live migration to a host goes through the
#: scheduler without ``force``).
DESTINATION_MICROVERSION = "2.56"
#: Nova's ``live_migration_completion_timeout`` default: seconds per GiB moved.
DEFAULT_COMPLETION_TIMEOUT_PER_GIB = 800.0
#: Force-completes one migration may be asked for by update (each pauses the guest).
MAX_FORCE_COMPLETES = 3
#: Nova microversion of force-complete (``POST .../migrations/{id}/action``).
FORCE_COMPLETE_MICROVERSION = "2.22"
#: Nova microversion of ``block_migration: "auto"``.
BLOCK_MIGRATION_AUTO_MICROVERSION = "2.25"
#: Nova microversion that aborts a ``queued`` or ``preparing`` live migration.
ABORT_ANY_STAGE_MICROVERSION = "2.65"


def _canonical_uuid(value: str) -> str:
    if CANONICAL_UUID.fullmatch(value):  # the common case, ten times cheaper than uuid.UUID (plans of 10,000)
        return value
    try:
        return str(uuid.UUID(value))
    except (ValueError, AttributeError, TypeError):
        raise ValueError("must be a server UUID, e.g. 0b5b6c5a-9b8e-4f0a-8f4e-6f1d2b3c4d5e") from None


#: Nova's own rule for a compute host name in the Compute API (``parameter_types.fqdn``).
_HOST_NAME = re.compile(r"[A-Za-z0-9._-]{1,255}")


def _host_name(value: str) -> str:
    if not value.strip():
        raise ValueError("must be a non-empty compute host name")
    if len(value) > 255:
        raise ValueError(f"must be at most 255 characters (got {len(value)})")
    if not _HOST_NAME.fullmatch(value):
        raise ValueError("must be a compute host name: letters, digits, '.', '_' and '-' only (Nova's rule)")
    return value


def _seconds(value: Any) -> Any:
    """Refuse what pydantic would coerce into a number of seconds: bools, strings, NaN, infinity."""
    kind = type(value)  # exact types first: ``isinstance`` is slow inside the workflow sandbox
    if kind is not int and kind is not float and (isinstance(value, bool) or not isinstance(value, int | float)):
        raise ValueError("must be a number of seconds (not a bool or a string)")
    if not math.isfinite(value):
        raise ValueError("must be a finite number of seconds")
    return value


def _block_migration(value: Any) -> Any:
    """Accept ``"auto"`` or a JSON boolean, nothing pydantic would coerce (``"true"``, ``1``)."""
    if value == "auto" or isinstance(value, bool):
        return value
    raise ValueError('must be "auto", true or false (a JSON boolean, not a string or a number)')


def _server_name(value: str) -> str:
    if len(value) > 255:
        raise ValueError(f"must be at most 255 characters (got {len(value)})")
    return value


ServerUUID = Annotated[str, AfterValidator(_canonical_uuid)]
HostName = Annotated[str, AfterValidator(_host_name)]
#: A duration in seconds given as a JSON number (never a bool or a string).
Seconds = Annotated[float, BeforeValidator(_seconds)]
ServerName = Annotated[str, AfterValidator(_server_name)]
#: Nova's ``block_migration``: ``"auto"`` (Nova decides from the storage) or a JSON boolean.
BlockMigration = Annotated[Literal["auto"] | bool, BeforeValidator(_block_migration)]


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


class OnTimeout(enum.StrEnum):
    """What a fired completion or progress deadline does (Nova's ``live_migration_timeout_action``)."""

    ABORT = "abort"
    FORCE_COMPLETE = "force_complete"


class DeadlineKind(enum.StrEnum):
    """Which deadline of a migration fired."""

    #: ``completion_timeout_per_gib`` x the GiB to move (live migrations).
    COMPLETION = "completion"
    #: ``progress_timeout_seconds`` without a decrease of the memory remaining.
    PROGRESS = "progress"
    #: ``timeout_seconds``, the hard upper bound of every migration.
    TIMEOUT = "timeout"


class DeadlineAction(enum.StrEnum):
    """What was done when a deadline fired."""

    FORCE_COMPLETED = "force_completed"
    ABORTED = "aborted"


class DeadlineOutcome(Message):
    """A deadline that fired during the wait, and what was done about it.

    Attributes:
        deadline: Which deadline fired.
        action: ``force_completed`` (the migration went on, the guest paused
            for the final copy) or ``aborted`` (the wait gave up; the saga
            reverts).
        limit_seconds: The deadline's length, counted from the start of
            the wait (for ``progress``: the time without progress).
        force_completed_at: When ``timeout_seconds`` fired after an earlier
            deadline had already force-completed: that earlier deadline.
    """

    deadline: DeadlineKind
    action: DeadlineAction
    limit_seconds: float
    force_completed_at: DeadlineKind | None = None


class MigrateServerInput(Message):
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
            aborted and reverted.
        revert_timeout_seconds: How long the revert may take (its own
            budget: a tiny ``timeout_seconds`` must not starve the revert).
        completion_timeout_per_gib: Live migrations: seconds per GiB to
            move (the flavor's RAM, plus its disk for a block migration);
            Nova's ``live_migration_completion_timeout`` (800). The
            completion deadline is the smaller of this budget and
            ``timeout_seconds``. Ignored by cold migrations.
        progress_timeout_seconds: Live migrations: the memory remaining
            must decrease at least once in this many seconds, otherwise the
            migration is stalled. None (default, Nova's since Stein) = off.
        on_timeout: What a fired completion or progress deadline does:
            ``abort`` (revert) or ``force_complete`` (pause the guest and
            finish, within ``timeout_seconds``).
        block_migration: Live migrations: ``"auto"`` (Nova decides),
            true or false; Nova's ``block_migration``.
    """

    resource_id: ServerUUID
    migration_type: MigrationType
    source_node: HostName
    destination_node: HostName | None = None
    resource_name: ServerName | None = None
    poll_interval_seconds: Seconds = Field(
        default=DEFAULT_POLL_INTERVAL_SECONDS, ge=MIN_POLL_INTERVAL_SECONDS, le=MAX_POLL_INTERVAL_SECONDS
    )
    timeout_seconds: Seconds = Field(default=DEFAULT_TIMEOUT_SECONDS, ge=1, le=MAX_TIMEOUT_SECONDS)
    revert_timeout_seconds: Seconds = Field(default=DEFAULT_REVERT_TIMEOUT_SECONDS, ge=1, le=MAX_TIMEOUT_SECONDS)
    completion_timeout_per_gib: Seconds = Field(
        default=DEFAULT_COMPLETION_TIMEOUT_PER_GIB, ge=1, le=MAX_TIMEOUT_SECONDS
    )
    progress_timeout_seconds: Seconds | None = Field(default=None, ge=1, le=MAX_TIMEOUT_SECONDS)
    on_timeout: OnTimeout = OnTimeout.ABORT
    block_migration: BlockMigration = "auto"

    @model_validator(mode="after")
    def _destination_differs(self) -> MigrateServerInput:
        if self.destination_node is not None and self.destination_node == self.source_node:
            raise ValueError("destination_node must differ from source_node")
        return self

    @model_validator(mode="after")
    def _live_only_keys(self) -> MigrateServerInput:
        if self.migration_type is MigrationType.COLD:
            live_only = []
            if self.progress_timeout_seconds is not None:
                live_only.append("progress_timeout_seconds")
            if self.on_timeout is not OnTimeout.ABORT:
                live_only.append("on_timeout=force_complete")
            if self.block_migration != "auto":
                live_only.append("block_migration")
            if live_only:
                raise ValueError(f"{', '.join(live_only)}: only for live migrations (migration_type is cold)")
        return self


class ServerSnapshot(Message):
    """What Nova said about a server at one moment (no secrets, no addresses)."""

    id: str
    name: str | None = None
    status: str
    host: str | None = None
    task_state: str | None = None
    vm_state: str | None = None


class ServerSize(Message):
    """What a live migration has to move, from the server's flavor.

    Attributes:
        memory_mib: The flavor's RAM.
        disk_gib: The flavor's root plus ephemeral disk (moved only by a
            block migration).
    """

    memory_mib: int = Field(ge=0)
    disk_gib: int = Field(ge=0)


class PreExecuteResult(Message):
    """Outcome of the precondition check.

    ``skip_reason`` set means Watcher would mark the action SKIPPED; a failed
    precondition is raised as ``PreconditionFailed`` instead.
    """

    server: ServerSnapshot | None = None
    skip_reason: str | None = None
    baseline_migration_id: int | None = None
    size: ServerSize | None = None


class ExecuteRequest(Message):
    """Start (or adopt) the migration described by ``params``."""

    params: MigrateServerInput
    original: ServerSnapshot
    baseline_migration_id: int | None = None


class ExecuteResult(Message):
    """The Nova migration that is now running (or already finished).

    Attributes:
        migration_id: Nova's migration id (``os-migrations`` id), when found.
        adopted: True when an earlier attempt had already started it.
        already_moved: True when the server had left the source already.
    """

    migration_id: str | None = None
    adopted: bool = False
    already_moved: bool = False


class TrackedMigration(Message):
    """A started migration to follow: what the wait and the revert activities get.

    Attributes:
        params: The workflow's input.
        original: The server as ``pre_execute`` found it.
        migration_id: Nova's migration id, when ``execute`` found it.
        baseline_migration_id: The server's newest migration before ours.
        deadline: When the activity gives up (the wait: the migration's
            timeout; the revert: its own budget).
        size: What the live migration moves (the completion deadline's
            size); None for cold migrations and old histories.
    """

    params: MigrateServerInput
    original: ServerSnapshot
    migration_id: str | None = None
    baseline_migration_id: int | None = None
    deadline: datetime
    size: ServerSize | None = None


class MigrationProgressReport(Message):
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
    disk_total_bytes: int | None = None
    least_remaining_bytes: int | None = None
    progress_seen_at: datetime | None = None
    force_completed_at: DeadlineKind | None = None
    deadline: DeadlineOutcome | None = None


class WaitResult(Message):
    """How Nova finished: the server's end state and the migration record.

    Attributes:
        deadline: A completion or progress deadline that fired and
            force-completed the migration, if any.
    """

    server: ServerSnapshot
    nova_migration_status: str | None = None
    polls: int
    deadline: DeadlineOutcome | None = None


class ForceCompleteRequest(Message):
    """Force-complete the server's running live migration (the ``force_complete`` update)."""

    resource_id: ServerUUID
    migration_id: str | None = None


class ForceCompleteResult(Message):
    """What the ``force_complete`` update did.

    Attributes:
        migration_id: The Nova migration force-completed.
        nova_migration_status: Its status when Nova accepted the request.
        force_completes: How many force-completes this workflow has run.
    """

    migration_id: str
    nova_migration_status: str | None = None
    force_completes: int = 0


class PostExecuteRequest(Message):
    """Check the end state against what the migration promised."""

    params: MigrateServerInput
    original: ServerSnapshot


class RevertAction(enum.StrEnum):
    """What the compensation had to do to put the server back."""

    NOTHING_TO_DO = "nothing_to_do"
    ABORTED = "aborted"
    RESIZE_REVERTED = "resize_reverted"
    MIGRATED_BACK = "migrated_back"


class RevertProgress(Message):
    """Heartbeat details of the revert activity, so a retry resumes its plan."""

    steps: list[str] = Field(default_factory=list)
    aborted: list[str] = Field(default_factory=list)
    moving_back: bool = False
    resize_reverted: bool = False


class RevertResult(Message):
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


class MigrationProgress(Message):
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


class Timings(Message):
    """Wall-clock of the workflow (workflow time, so replay-safe)."""

    started_at: datetime
    finished_at: datetime
    seconds: float
    phases: dict[str, float] = Field(default_factory=dict)


class MigrationResult(Message):
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
    deadline: DeadlineOutcome | None = None
    force_completes: int = 0

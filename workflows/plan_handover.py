"""What one run of a plan hands the next (continue-as-new), packed to stay small.

A plan of 10,000 actions must hand its whole account over in one payload,
beside the plan itself, under Temporal's 2 MB limit: a list of
:class:`~watcher_temporal.contract.ActionStatus` (about 220 bytes each) does
not fit. :class:`~watcher_temporal.contract.PackedActions` keeps one column
per field, by plan position, with each distinct reason once (about 30 bytes an
action). Runs recorded before it handed over the plain list; both are read.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from watcher_temporal.contract import (
        ActionState,
        ActionStatus,
        PackedActions,
        PlanAction,
        PlanProgress,
        RevertOutcome,
    )

#: One letter per final state.
LETTERS = {ActionState.SUCCEEDED: "S", ActionState.FAILED: "F", ActionState.SKIPPED: "K", ActionState.CANCELLED: "C"}
STATES = {letter: state for state, letter in LETTERS.items()}
#: No time (an action cancelled before it started).
NO_TIME = -1


def pack(
    statuses: Iterable[ActionStatus], index: Mapping[str, int], completed: list[str], since: datetime
) -> PackedActions:
    """Pack finished actions' statuses (and the order of completion) by plan position."""
    reasons: dict[str, int] = {}
    positions, states, reason_of, started, finished = [], [], [], [], []
    reverts: dict[str, list[str]] = {}
    for status in sorted(statuses, key=lambda s: index[s.id]):
        position = index[status.id]
        positions.append(position)
        states.append(LETTERS[status.state])
        reason_of.append(reasons.setdefault(status.reason, len(reasons)))
        started.append(_ms(status.started_at, since))
        finished.append(_ms(status.finished_at, since))
        if status.revert is not None:
            reverts[str(position)] = [status.revert.value, status.revert_reason]
    return PackedActions(
        positions=positions,
        states="".join(states),
        reasons=list(reasons),
        reason_of=reason_of,
        started_ms=started,
        finished_ms=finished,
        reverts=reverts,
        completed=[index[a] for a in completed],
    )


def unpack(progress: PlanProgress, actions: list[PlanAction], child_ids: Mapping[str, str]) -> dict[str, ActionStatus]:
    """Every finished action's status, by id, from either hand-over form."""
    if progress.packed is None:
        return {s.id: s for s in progress.actions if s.state is not ActionState.PENDING}
    packed, since = progress.packed, progress.started_at
    statuses = {}
    for i, position in enumerate(packed.positions):
        action = actions[position]
        started = _time(packed.started_ms[i], since)
        revert = packed.reverts.get(str(position))
        statuses[action.id] = ActionStatus.model_construct(
            id=action.id,
            action_type=action.action_type,
            state=STATES[packed.states[i]],
            reason=packed.reasons[packed.reason_of[i]],
            workflow_id=child_ids.get(action.id) if started is not None else None,
            started_at=started,
            finished_at=_time(packed.finished_ms[i], since),
            revert=None if revert is None else RevertOutcome(revert[0]),
            revert_reason="" if revert is None else revert[1],
        )
    return statuses


def completed_ids(progress: PlanProgress, actions: list[PlanAction]) -> list[str]:
    """The SUCCEEDED actions in order of completion, from either hand-over form."""
    if progress.packed is None:
        return list(progress.completed)
    return [actions[p].id for p in progress.packed.completed]


def _ms(moment: datetime | None, since: datetime) -> int:
    return NO_TIME if moment is None else round((moment - since) / timedelta(milliseconds=1))


def _time(ms: int, since: datetime) -> datetime | None:
    return None if ms == NO_TIME else since + timedelta(milliseconds=ms)

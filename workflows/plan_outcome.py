"""How one action of a plan ended, before the window writes it into the action's status."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from watcher_temporal.contract import ActionState, UndoRecord


class Outcome:
    """How one action ended (before it is written into its status)."""

    __slots__ = ("reason", "state", "undo")

    def __init__(self, state: ActionState, reason: str, undo: UndoRecord | None = None) -> None:
        self.state = state
        self.reason = reason
        self.undo = undo

"""The action plan's own row: the engine's one line in ``status_message``, and CANCELLING.

While a plan runs, the engine writes a note when something holds it up (no
worker polls its task queue, Temporal cannot be reached) and clears that note
when it is over, unless someone else wrote the field meanwhile. When the plan
fails engine-side, the cause stays there: Watcher's handler writes no text of
its own for an engine's exception.
"""

from __future__ import annotations

from typing import Any

from watcher import objects

from watcher_temporal.watcher_engine.causes import STATUS_MESSAGE_COLUMN


class PlanRow:
    """Writes one plan's ``status_message`` (each change once) and state."""

    def __init__(self, context: Any, plan_uuid: str) -> None:
        self._context = context
        self._uuid = plan_uuid
        self._noted: str | None = None

    def _load(self) -> Any:
        return objects.ActionPlan.get_by_uuid(self._context, self._uuid, eager=True)

    def state(self) -> str:
        return str(objects.ActionPlan.get_by_uuid(self._context, self._uuid).state)

    def note(self, text: str) -> bool:
        """Put ``text`` in the status message; False when it is already there (nothing written)."""
        if text == self._noted:
            return False
        self.set_message(text)
        self._noted = text
        return True

    def clear(self) -> None:
        """Remove this object's note, if the row still shows it."""
        if self._noted is None:
            return
        plan = self._load()
        if plan.status_message == self._noted:
            plan.status_message = None
            plan.save()
        self._noted = None

    def set_message(self, text: str) -> None:
        plan = self._load()
        plan.status_message = text[:STATUS_MESSAGE_COLUMN]
        plan.save()

    def set_state(self, state: str) -> None:
        plan = self._load()
        plan.state = state
        plan.save()

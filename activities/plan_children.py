"""How a migration child that a plan cancelled put its server back, read from the child's memo.

``MigrateServer`` records its compensation (``RevertResult``) in its memo
(``revert``) before it ends cancelled; a cancelled workflow carries no
result, so the plan asks this activity, with the worker's Temporal client,
and writes the true outcome into the action's reason: the Nova migration
aborted, the server migrated back, a cold migration reverted, or nothing had
moved.
"""

from __future__ import annotations

from collections.abc import Callable

from temporalio import activity
from temporalio.client import Client

from watcher_temporal.contract import PlanActivity, RevertAction, RevertResult

#: One line per compensation, ``{host}`` where the server was left.
WORDING = {
    RevertAction.ABORTED: "the Nova migration was aborted; the server stayed on {host}",
    RevertAction.MIGRATED_BACK: "the server was migrated back to {host}",
    RevertAction.RESIZE_REVERTED: "the cold migration was reverted; the server is on {host}",
    RevertAction.NOTHING_TO_DO: "nothing had moved; the server is on {host}",
}
#: A cancel that came before the migration started leaves no compensation behind.
NOTHING_STARTED = "cancelled before anything moved"


def describe_revert(memo: dict[str, object]) -> str:
    """The plan's wording for what a cancelled ``MigrateServer`` did, from its memo."""
    raw = memo.get("revert")
    if raw is None:
        return NOTHING_STARTED
    revert = RevertResult.model_validate(raw)
    host = revert.server.host if revert.server and revert.server.host else "its source"
    return WORDING[revert.action].format(host=host)


class PlanChildActivities:
    """The plan's look at its own children (needs the worker's Temporal client)."""

    def __init__(self, client: Client | None) -> None:
        self._client = client

    def all(self) -> list[Callable[..., object]]:
        """The activities to register on a worker."""
        return [self.cancelled_migration]

    @activity.defn(name=PlanActivity.CANCELLED_MIGRATION.value)
    async def cancelled_migration(self, workflow_id: str) -> str:
        """One line on how the cancelled ``MigrateServer`` ``workflow_id`` left its server."""
        if self._client is None:
            return "cancelled; this worker has no Temporal client to read how it ended"
        described = await self._client.get_workflow_handle(workflow_id).describe()
        return describe_revert(dict(await described.memo()))

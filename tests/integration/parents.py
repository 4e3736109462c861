"""A minimal parent workflow that runs MigrateServer as children (test only).

It shows the child-workflow starting path: the parent uses the
``migrate-<server uuid>`` id, so a plan can never migrate one server twice
at once, and gets each child's ``MigrationResult``.
"""

from __future__ import annotations

import asyncio

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from watcher_temporal.contract import MigrateServerInput, MigrationResult, migration_workflow_id


@workflow.defn(name="MigrateMany")
class MigrateMany:
    @workflow.run
    async def run(self, moves: list[MigrateServerInput]) -> list[MigrationResult]:
        children = [
            workflow.execute_child_workflow(
                "MigrateServer", move, id=migration_workflow_id(move.resource_id), result_type=MigrationResult
            )
            for move in moves
        ]
        return list(await asyncio.gather(*children))

"""Stand-ins for the plan-scale benchmark and test (a module of its own: the workflow sandbox re-imports it)."""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow

with workflow.unsafe.imports_passed_through():
    from pydantic import JsonValue

    from watcher_temporal.contract import (
        MigrateServerInput,
        MigrationResult,
        MigrationStatus,
        NopRequest,
        PlanActivity,
        ServerSize,
        Timings,
    )
    from watcher_temporal.contract.durations import SizesRequest, SizesResult

#: Flavor RAM of the stand-in servers (MiB): four sizes, so the plan's duration order has work to do.
STANDIN_MEMORY_MIB = (1024, 2048, 4096, 8192)


@workflow.defn(name="MigrateServer")
class TimerMigration:
    """Registers as ``MigrateServer`` and takes 10 x ``poll_interval_seconds`` on a timer: no Nova."""

    @workflow.run
    async def run(self, request: MigrateServerInput | JsonValue = None) -> MigrationResult:
        params = MigrateServerInput.model_validate(request)
        started = workflow.now()
        await workflow.sleep(timedelta(seconds=params.poll_interval_seconds * 10))
        return MigrationResult(
            status=MigrationStatus.SUCCEEDED,
            reason="timer",
            resource_id=params.resource_id,
            migration_type=params.migration_type,
            source_node=params.source_node,
            destination_node=params.destination_node,
            final_host=params.destination_node,
            timings=Timings(started_at=started, finished_at=workflow.now(), seconds=0.0),
        )


@activity.defn(name=PlanActivity.NOP.value)
async def nop(request: NopRequest) -> None:
    """The plan's ``nop`` (a local activity), doing nothing: no logging at 10,000 actions."""


@activity.defn(name=PlanActivity.MIGRATION_SIZES.value)
async def migration_sizes(request: SizesRequest) -> SizesResult:
    """The plan's ``plan.migration_sizes`` without Nova: every server found, its RAM from its UUID.

    The real activity answers the same shape (one size per server), so the plan
    runs its duration-aware order as it does on a cloud.
    """
    sizes = {
        server: ServerSize(memory_mib=STANDIN_MEMORY_MIB[int(server[:8], 16) % len(STANDIN_MEMORY_MIB)], disk_gib=20)
        for server in request.servers
    }
    return SizesResult(sizes=sizes)

"""What durability costs: MigrateServer vs a bare openstacksdk script.

One run, one local Nova (live migrations set to take ``--live-seconds``),
N live migrations done each way, one after the other:

* bare: a plain openstacksdk loop making the same checks and waits as the
  workflow's activities (server, destination service, microversion, migration
  records; start; poll server + migration record; final check), no Temporal;
* workflow: ``MigrateServer`` through the Temporal dev server and a worker.

Prints both medians and their ratio, the Compute API requests per migration
(counted by localnova) and the Temporal history events per workflow.
A benchmark, not a test: it asserts nothing.

    .venv/bin/python benchmarks/overhead.py --migrations 5 --live-seconds 5
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from localnova import LocalNova
from localnova.harness import LocalNovaHandle
from watcher_temporal.activities.nova import NovaGateway
from watcher_temporal.binaries import start_dev_server
from watcher_temporal.contract import MigrateServerInput, MigrationStatus, MigrationType
from watcher_temporal.starter import start_migration
from watcher_temporal.worker import build_worker


def bare_migration(nova: NovaGateway, server_id: str, source: str, dest: str, poll: float) -> None:
    """Watcher-style: check, start, poll until done, check (no durability)."""
    server = nova.get_server(server_id)
    assert server is not None and server.host == source and server.status == "ACTIVE"
    service = nova.compute_service(dest)
    assert service is not None and service.enabled and service.up
    assert nova.supports_microversion("2.56")
    nova.migrations_of(server_id)
    nova.live_migrate(server_id, dest)
    while True:
        time.sleep(poll)
        server = nova.get_server(server_id)
        assert server is not None
        if not nova.in_progress_migrations(server_id) and server.task_state is None:
            break
    nova.migrations_of(server_id)
    assert server.host == dest and server.status == "ACTIVE"
    assert not nova.in_progress_migrations(server_id)


def requests_made(cloud: LocalNovaHandle) -> int:
    return int(cloud.stats()["total"])


async def main(args: argparse.Namespace) -> None:
    env = await start_dev_server()
    async with env:
        with LocalNova(hosts=("host1", "host2"), live_migration_seconds=args.live_seconds) as cloud:
            servers = cloud.boot_servers(2 * args.migrations, hosts=["host1"], name_prefix="bench")
            bare_ids, wf_ids = servers[: args.migrations], servers[args.migrations :]
            nova = NovaGateway(connect=cloud.connect)

            bare_times, bare_requests = [], []
            for server_id in bare_ids:
                cloud.reset_stats()
                t0 = time.perf_counter()
                await asyncio.to_thread(bare_migration, nova, server_id, "host1", "host2", args.poll)
                bare_times.append(time.perf_counter() - t0)
                bare_requests.append(requests_made(cloud))

            wf_times, wf_requests, wf_events = [], [], []
            async with build_worker(env.client, task_queue="bench", nova=nova):
                for server_id in wf_ids:
                    params = MigrateServerInput(
                        resource_id=server_id,
                        migration_type=MigrationType.LIVE,
                        source_node="host1",
                        destination_node="host2",
                        poll_interval_seconds=args.poll,
                    )
                    cloud.reset_stats()
                    t0 = time.perf_counter()
                    handle = await start_migration(env.client, params, task_queue="bench")
                    result = await handle.result()
                    wf_times.append(time.perf_counter() - t0)
                    wf_requests.append(requests_made(cloud))
                    assert result.status is MigrationStatus.SUCCEEDED, result.reason
                    wf_events.append(len((await handle.fetch_history()).events))
            nova.close()

    bare, wf = statistics.median(bare_times), statistics.median(wf_times)
    print(f"live migrations of {args.live_seconds:g} s, poll every {args.poll:g} s, N={args.migrations} each way")
    print(f"{'':<22}{'median s':>10}{'min s':>8}{'max s':>8}{'Nova req/migration':>20}{'history events':>16}")
    print(
        f"{'bare openstacksdk':<22}{bare:>10.2f}{min(bare_times):>8.2f}{max(bare_times):>8.2f}"
        f"{statistics.median(bare_requests):>20.0f}{'-':>16}"
    )
    print(
        f"{'MigrateServer':<22}{wf:>10.2f}{min(wf_times):>8.2f}{max(wf_times):>8.2f}"
        f"{statistics.median(wf_requests):>20.0f}{statistics.median(wf_events):>16.0f}"
    )
    print(f"ratio workflow/bare: {wf / bare:.3f}  (overhead {wf - bare:+.2f} s per migration)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--migrations", type=int, default=5)
    parser.add_argument("--live-seconds", type=float, default=5.0)
    parser.add_argument("--poll", type=float, default=1.0, help="poll interval for both (Watcher's default is 5)")
    asyncio.run(main(parser.parse_args()))

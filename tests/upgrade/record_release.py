"""Record histories from a released version's worker, for the replay tests of later code.

    python -m tests.upgrade.record_release            # the newest release in RELEASES
    python -m tests.upgrade.record_release --release v0.1.0

Starts its own localnova cloud and Temporal dev server, unpacks the release's
tree (:mod:`tests.upgrade.release`) and runs the release's ``worker.py`` as a
separate process, then drives one workflow of every type to every ending the
release knows, as an operator would (plain JSON inputs, as ``temporal
workflow start`` sends them):

* ``MigrateServer``: live, cold, skipped, reverted (Nova fails the copy),
  cancelled while Nova copies, force-completed by the update;
* ``MaintenancePlan``: migrations and nops that continue as new (every run);
* ``DrainHost`` then ``UndrainHost`` (move back) of one host;

and writes every run of each, and every child ``MigrateServer`` they started,
to ``tests/upgrade/histories/<tag>/`` with a ``MANIFEST.json`` (file → workflow
id, type, ending) that ``tests/upgrade/test_replay_release.py`` replays
against today's code. Re-run it for each new release (after adding it to
``RELEASES``); never re-record an existing release's directory.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter

from localnova.harness import LocalNova, LocalNovaHandle
from tests.conditions import until
from tests.upgrade.release import Release, latest_release, release_commit, release_tree, release_worker, releases
from watcher_temporal.binaries import start_dev_server
from watcher_temporal.contract import drain_workflow_id, migration_workflow_id, undrain_workflow_id

HISTORIES = Path(__file__).with_name("histories")
HOSTS = ("host1", "host2", "host3", "host4")
#: Destination on which every live migration fails (the reverted ending).
FAILING_HOST = "host3"
#: The host drained then undrained (its servers go to BACKUP_HOST).
DRAINED_HOST = "host4"
BACKUP_HOST = "host2"
#: A run's longest wait for one workflow to end.
WORKFLOW_TIMEOUT = 300.0


@dataclass
class Recorder:
    """Drives the scenarios on the release's worker and keeps what to save."""

    client: Client
    cloud: LocalNovaHandle
    task_queue: str
    recorded: dict[str, dict[str, Any]] = field(default_factory=dict)

    async def save(self, name: str, handle: WorkflowHandle[Any, Any], ending: str, *, children: bool = False) -> None:
        """Keep every run of ``handle`` (continue-as-new chain) and, when asked, its children."""
        run_id = handle.first_execution_run_id or handle.run_id
        runs = 0
        while run_id is not None:
            history = await self.client.get_workflow_handle(handle.id, run_id=run_id).fetch_history()
            runs += 1
            last = history.events[-1]
            run_id = None
            if last.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
                run_id = last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id
            stem = name if runs == 1 else f"{name}_run{runs}"
            self._keep(stem, handle.id, history.to_json(), "continued as new" if run_id else ending)
            for event in history.events if children else ():
                if event.event_type == EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED:
                    child = event.child_workflow_execution_started_event_attributes.workflow_execution
                    child_history = await self.client.get_workflow_handle(
                        child.workflow_id, run_id=child.run_id
                    ).fetch_history()
                    index = sum(1 for key in self.recorded if key.startswith(f"{name}_child"))
                    self._keep(
                        f"{name}_child{index + 1}", child.workflow_id, child_history.to_json(), f"child of {name}"
                    )

    def _keep(self, stem: str, workflow_id: str, history_json: str, ending: str) -> None:
        doc = json.loads(history_json)
        started = doc["events"][0]["workflowExecutionStartedEventAttributes"]
        self.recorded[stem] = {
            "workflow_id": workflow_id,
            "workflow_type": started["workflowType"]["name"],
            "ending": ending,
            "events": len(doc["events"]),
            "history": history_json,
        }

    async def start_migration(self, server_id: str, migration_type: str, dest: str | None) -> WorkflowHandle[Any, Any]:
        params: dict[str, Any] = {
            "resource_id": server_id,
            "migration_type": migration_type,
            "source_node": "host1",
            "poll_interval_seconds": 0.5,
            "timeout_seconds": 120,
        }
        if dest is not None:
            params["destination_node"] = dest
        return await self.client.start_workflow(
            "MigrateServer", params, id=migration_workflow_id(server_id), task_queue=self.task_queue
        )

    async def phase_of(self, handle: WorkflowHandle[Any, Any]) -> str:
        return str((await handle.query("progress"))["phase"])

    async def migrate(self, name: str, migration_type: str, dest: str | None, *, source: str = "host1") -> None:
        [server_id] = self.cloud.boot_servers(1, hosts=[source], name_prefix=f"rec-{name}")
        handle = await self.start_migration(server_id, migration_type, dest)
        result = await asyncio.wait_for(handle.result(), WORKFLOW_TIMEOUT)
        await self.save(name, handle, str(result["status"]))

    async def skipped(self) -> None:
        [server_id] = self.cloud.boot_servers(1, hosts=["host2"], name_prefix="rec-skip")
        handle = await self.start_migration(server_id, "live", "host3")  # not on host1: skipped
        result = await asyncio.wait_for(handle.result(), WORKFLOW_TIMEOUT)
        await self.save("migrate_skipped", handle, str(result["status"]))

    async def stalled(self, name: str, act: Callable[[WorkflowHandle[Any, Any]], Awaitable[str]]) -> None:
        """A live migration whose copy never ends (localnova stalls it), then ``act`` on it while it waits."""
        [server_id] = self.cloud.boot_servers(1, hosts=["host1"], name_prefix=f"rec-{name}")
        stalled = self.cloud.config()["live_migration_stall_servers"]
        self.cloud.configure(live_migration_stall_servers=[*stalled, server_id])
        handle = await self.start_migration(server_id, "live", "host2")

        async def waiting() -> bool:
            return await self.phase_of(handle) == "waiting"

        await until(waiting, timeout=60, what=f"{name}: the migration waits for Nova's copy")
        ending = await act(handle)
        await self.save(name, handle, ending)

    async def plan_continued_as_new(self) -> None:
        [s1, s2] = self.cloud.boot_servers(2, hosts=["host1"], name_prefix="rec-plan")
        moves = [live_move(f"m{i}", server_id) for i, server_id in enumerate((s1, s2))]
        nops = [
            {"id": f"n{i}", "action_type": "nop", "input_parameters": {"message": f"step {i}"}, "parents": ["m0"]}
            for i in range(80)
        ]
        plan = {"actions": moves + nops, "max_parallel": 2, "max_history_events": 200}
        handle = await self.client.start_workflow(
            "MaintenancePlan", plan, id=f"plan-release-{uuid.uuid4().hex[:8]}", task_queue=self.task_queue
        )
        result = await asyncio.wait_for(handle.result(), WORKFLOW_TIMEOUT)
        await self.save("plan_continue_as_new", handle, str(result["state"]), children=True)
        if "plan_continue_as_new_run2" not in self.recorded:
            raise RuntimeError("the plan did not continue as new: raise its actions")

    async def drain_and_undrain(self) -> None:
        self.cloud.boot_servers(2, hosts=[DRAINED_HOST], name_prefix="rec-drain")
        [shutoff] = self.cloud.boot_servers(1, hosts=[DRAINED_HOST], name_prefix="rec-drain-off")
        self.cloud.conn.compute.stop_server(shutoff)
        self.cloud.wait_server(shutoff, "SHUTOFF")
        drain = {"host": DRAINED_HOST, "backup_host": BACKUP_HOST, "max_parallel": 2, "poll_interval_seconds": 0.5}
        handle = await self.client.start_workflow(
            "DrainHost", drain, id=drain_workflow_id(DRAINED_HOST), task_queue=self.task_queue
        )
        result = await asyncio.wait_for(handle.result(), WORKFLOW_TIMEOUT)
        await self.save("drain_host", handle, str(result["status"]["state"]), children=True)
        undrain = {"host": DRAINED_HOST, "move_back": True, "max_parallel": 2}
        handle = await self.client.start_workflow(
            "UndrainHost", undrain, id=undrain_workflow_id(DRAINED_HOST), task_queue=self.task_queue
        )
        result = await asyncio.wait_for(handle.result(), WORKFLOW_TIMEOUT)
        await self.save("undrain_host", handle, str((result.get("status") or {}).get("state")), children=True)


def live_move(action_id: str, server_id: str, **params: Any) -> dict[str, Any]:
    """A plan's live migration host1 → host2, as every release's ``MaintenancePlan`` accepts it."""
    return {
        "id": action_id,
        "action_type": "migrate",
        "input_parameters": {
            "resource_id": server_id,
            "migration_type": "live",
            "source_node": "host1",
            "destination_node": "host2",
            "poll_interval_seconds": 0.5,
        }
        | params,
    }


async def cancel(handle: WorkflowHandle[Any, Any]) -> str:
    await handle.cancel()
    try:
        await asyncio.wait_for(handle.result(), WORKFLOW_TIMEOUT)
    except WorkflowFailureError:
        return "CANCELLED"
    raise RuntimeError("the cancelled migration ended without failing")


async def force_complete(handle: WorkflowHandle[Any, Any]) -> str:
    await handle.execute_update("force_complete")
    result = await asyncio.wait_for(handle.result(), WORKFLOW_TIMEOUT)
    return f"{result['status']} (force-completed)"


async def record(release: Release, out: Path) -> dict[str, dict[str, Any]]:
    """Run every scenario on the release's worker; return what was recorded."""
    cloud = LocalNova(
        hosts=HOSTS,
        live_migration_seconds=2,
        cold_migration_seconds=1,
        live_migration_fail_hosts=[FAILING_HOST],
    )
    handle = cloud.start()
    try:
        async with await start_dev_server() as env, asyncio.timeout(30 * 60):
            task_queue = f"release-{release.tag}-{uuid.uuid4().hex[:6]}"
            client = await Client.connect(
                env.client.service_client.config.target_host,
                namespace=env.client.namespace,
                data_converter=pydantic_data_converter,
            )
            with release_tree(release) as tree:
                worker_env = {
                    key: value for key, value in os.environ.items() if not key.startswith(("TEMPORAL_", "OS_"))
                }
                worker = release_worker(
                    tree,
                    {
                        **worker_env,
                        **handle.env(),
                        "TEMPORAL_ADDRESS": env.client.service_client.config.target_host,
                        "TEMPORAL_NAMESPACE": env.client.namespace,
                        "TEMPORAL_TASK_QUEUE": task_queue,
                    },
                )
                worker.start()
                try:
                    recorder = Recorder(client=client, cloud=handle, task_queue=task_queue)
                    await asyncio.gather(
                        recorder.migrate("migrate_live", "live", "host2"),
                        recorder.migrate("migrate_cold", "cold", None),
                        recorder.migrate("migrate_reverted", "live", FAILING_HOST),
                        recorder.skipped(),
                        recorder.stalled("migrate_cancelled", cancel),
                        recorder.stalled("migrate_force_completed", force_complete),
                        recorder.plan_continued_as_new(),
                    )
                    await recorder.drain_and_undrain()
                except BaseException:
                    print(worker.log_tail())
                    raise
                finally:
                    worker.stop()
    finally:
        cloud.stop()
    write(release, out, recorder.recorded)
    return recorder.recorded


def write(release: Release, out: Path, recorded: dict[str, dict[str, Any]]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    manifest: dict[str, Any] = {"release": release.tag, "commit": release.commit, "histories": {}}
    for stem, item in sorted(recorded.items()):
        (out / f"{stem}.json").write_text(item.pop("history"))
        manifest["histories"][stem] = item
    (out / "MANIFEST.json").write_text(json.dumps(manifest, indent=2) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--release", help="tag in tests/upgrade/RELEASES (default: the newest)")
    parser.add_argument("--out", type=Path, help="directory (default: tests/upgrade/histories/<tag>)")
    args = parser.parse_args()
    release = next((r for r in releases() if r.tag == args.release), None) if args.release else latest_release()
    if release is None:
        parser.error(f"{args.release!r} is not in tests/upgrade/RELEASES")
    release_commit(release)  # fail early on a clone without it
    recorded = asyncio.run(record(release, args.out or HISTORIES / release.tag))
    for stem, item in sorted(recorded.items()):
        print(f"{stem:40} {item['workflow_type']:16} {item['events']:5} events  {item['ending']}")


if __name__ == "__main__":
    main()

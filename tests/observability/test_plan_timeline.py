"""``watcher-temporal timeline``: a finished 12-action plan drawn by the CLI, then opened in headless Chromium.

The page must hold one bar per action with the outcome the plan reached, and
load nothing: Chromium records every request the page makes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from localnova.harness import LocalNovaHandle
from tests.conditions import until
from tests.observability.browser import artifacts_dir, chromium
from tests.realstack import RunningWorker, boot_on
from watcher_temporal.contract import PlanState, PlanStatus

pytestmark = pytest.mark.integration


def migrate(action_id: str, server: str, source: str, dest: str) -> dict[str, Any]:
    return {
        "id": action_id,
        "action_type": "migrate",
        "input_parameters": {
            "resource_id": server,
            "migration_type": "live",
            "source_node": source,
            "destination_node": dest,
            "poll_interval_seconds": 0.5,
            "timeout_seconds": 120,
        },
    }


async def test_a_finished_plan_draws_one_bar_per_action_and_fetches_nothing(
    dev_env: WorkflowEnvironment, worker: RunningWorker, localnova: LocalNovaHandle, tmp_path: Path
) -> None:
    localnova.configure(live_migration_seconds=1, live_migration_fail_hosts=["host3"])
    on_host1 = [boot_on(localnova, "host1") for _ in range(6)]
    on_host2 = [boot_on(localnova, "host2") for _ in range(3)]
    actions = [migrate(f"h1-{i}", s, "host1", "host2") for i, s in enumerate(on_host1[:5])]
    actions += [migrate(f"h2-{i}", s, "host2", "host1") for i, s in enumerate(on_host2[:2])]
    actions.append(migrate("wrong-source", on_host2[2], "host1", "host2"))  # not on host1: SKIPPED
    actions.append(migrate("to-failing-host", on_host1[5], "host1", "host3"))  # Nova fails it: REVERTED
    actions += [{"id": f"note-{i}", "action_type": "nop", "input_parameters": {"message": "hi"}} for i in range(3)]
    plan = {
        "actions": actions,
        "max_parallel": 6,
        "max_parallel_per_host": 6,
        "max_parallel_per_source": 3,
        "on_failure": "continue",
    }
    plan_id = f"plan-timeline-{uuid.uuid4().hex[:8]}"
    handle = await dev_env.client.start_workflow(
        "MaintenancePlan", plan, id=plan_id, task_queue=worker.task_queue, result_type=PlanStatus
    )
    result = await handle.result()
    assert result.state is PlanState.FAILED and len(result.actions) == 12

    page = tmp_path / "plan.html"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "TEMPORAL_", "WATCHER_TEMPORAL_"))}
    env["TEMPORAL_ADDRESS"] = dev_env.client.service_client.config.target_host
    env["TEMPORAL_NAMESPACE"] = dev_env.client.namespace
    drawn = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "watcher_temporal.cli", "timeline", plan_id, "--html", str(page), "-o", "json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert drawn.returncode == 0, drawn.stderr
    assert json.loads(drawn.stdout) == {"file": str(page), "plan": plan_id, "actions": 12}
    async with chromium() as browser:
        tab = await browser.new_page()
        requested: list[str] = []
        tab.on("request", lambda request: requested.append(request.url))
        await tab.goto(page.as_uri())
        bars = {
            await bar.get_attribute("data-action"): await bar.get_attribute("class")
            for bar in await tab.locator("svg g.bar").all()
        }
        lanes = {await lane.get_attribute("data-lane") for lane in await tab.locator("svg g.lane").all()}
        phases = await tab.locator("g[data-action='h1-0'] rect.phase").count()
        hover = await tab.locator("g[data-action='to-failing-host'] > title").text_content()
        await tab.screenshot(path=str(artifacts_dir("timeline") / "plan-12-actions.png"), full_page=True)

    assert requested == [page.as_uri()]  # the page itself, and nothing else
    assert len(bars) == 12
    outcome = {action: next(c for c in (cls or "").split() if c.startswith("outcome-")) for action, cls in bars.items()}
    assert outcome == {
        **{f"h1-{i}": "outcome-succeeded" for i in range(5)},
        **{f"h2-{i}": "outcome-succeeded" for i in range(2)},
        "wrong-source": "outcome-skipped",
        "to-failing-host": "outcome-reverted",
        **{f"note-{i}": "outcome-succeeded" for i in range(3)},
    }
    assert {"host1", "host2"} <= lanes
    assert phases >= 4  # checks, start, copy, verify
    assert hover is not None and "MigrationFailed" in hover and "host3" in hover


async def test_a_running_drain_draws_its_running_and_waiting_actions(
    dev_env: WorkflowEnvironment, worker: RunningWorker, localnova: LocalNovaHandle, tmp_path: Path
) -> None:
    """A ``DrainHost`` while it runs: the disable bar, one running migration, the others waiting (per source 1)."""
    localnova.configure(live_migration_seconds=30)
    servers = [boot_on(localnova, "host1") for _ in range(3)]
    drain_id = "drain-host1"
    handle = await dev_env.client.start_workflow(
        "DrainHost",
        {"host": "host1", "servers": servers, "disable_host": True, "poll_interval_seconds": 0.5},
        id=drain_id,
        task_queue=worker.task_queue,
    )
    try:

        async def one_migration_runs() -> bool:
            status = await handle.query("status", result_type=PlanStatus)
            return any(a.state.value == "ONGOING" and a.action_type.value == "migrate" for a in status.actions)

        await until(one_migration_runs, timeout=120, what="the drain runs a migration")
        from watcher_temporal.cli.timeline import gather
        from watcher_temporal.cli.timeline_html import render

        page = tmp_path / "drain.html"
        drawn = await gather(dev_env.client, drain_id)
        page.write_text(render(drawn))
        async with chromium() as browser:
            tab = await browser.new_page()
            await tab.goto(page.as_uri())
            classes = [await bar.get_attribute("class") or "" for bar in await tab.locator("svg g.bar").all()]
            lanes = {await lane.get_attribute("data-lane") for lane in await tab.locator("svg g.lane").all()}
            await tab.screenshot(path=str(artifacts_dir("timeline") / "drain-running.png"), full_page=True)
    finally:
        await handle.cancel()
        with contextlib.suppress(Exception):
            await handle.result()
        for svc in localnova.conn.compute.services(binary="nova-compute", host="host1"):
            if svc.status != "enabled":
                localnova.conn.compute.enable_service(svc, host=svc.host, binary="nova-compute")
    assert len(classes) == 4  # disable + 3 migrations
    assert sum("outcome-running" in c for c in classes) >= 1
    assert sum("outcome-pending" in c for c in classes) >= 1  # the per-source limit holds the others
    assert lanes == {"host1"}  # the drained host's lane holds them all
    assert drawn.eta_seconds is not None and drawn.lower_bound_seconds is not None  # the planner's estimates

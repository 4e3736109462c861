"""``watcher-temporal`` as an operator runs it: a subprocess against the dev server and local Nova.

The worker runs in-process on the session loop (the ``worker`` fixture of
``tests/integration``), so the CLI is started with asyncio's subprocess API,
never a blocking ``subprocess.run``.
"""

from __future__ import annotations

import asyncio
import io
import itertools
import json
import os
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from localnova.harness import LocalNovaHandle
from tests.conditions import until
from tests.realstack import RunningWorker, boot_on
from watcher_temporal.cli import build_parser, drain_host
from watcher_temporal.cli.exit_codes import ExitCode
from watcher_temporal.cli.progress import ProgressDisplay
from watcher_temporal.contract import MigrationProgress, PlanStatus

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


async def cli(dev_env: WorkflowEnvironment, task_queue: str, *args: str, env: dict[str, str] | None = None) -> Run:
    """Run ``python -m watcher_temporal.cli ARGS`` pointed at the test dev server."""
    full_env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("OS_", "TEMPORAL_", "WATCHER_TEMPORAL_"))},
        "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
        "TEMPORAL_NAMESPACE": dev_env.client.namespace,
        "TEMPORAL_TASK_QUEUE": task_queue,
        "PYTHONPATH": str(REPO),
        **(env or {}),
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "watcher_temporal.cli",
        *args,
        cwd=REPO,
        env=full_env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(120):
        out, err = await proc.communicate()
    assert proc.returncode is not None
    return Run(proc.returncode, out.decode(), err.decode())


pytestmark = pytest.mark.integration


async def test_migrate_wait_shows_progress_and_exits_0(
    dev_env: WorkflowEnvironment, worker: RunningWorker, localnova: LocalNovaHandle
) -> None:
    localnova.configure(live_migration_seconds=3)
    server = boot_on(localnova, "host1")
    run = await cli(
        dev_env,
        worker.task_queue,
        *("migrate", server, "--live", "--from", "host1", "--to", "host2", "--wait"),
        *("--poll-interval", "0.5", "--progress-interval", "0.2"),
    )
    assert run.code == ExitCode.SUCCESS, run
    assert f"migrate-{server}: SUCCEEDED" in run.stdout
    # Not a TTY: plain progress lines on stderr, one per change, no carriage returns.
    lines = [line for line in run.stderr.splitlines() if line.startswith(f"migrate-{server}: ")]
    assert any("phase waiting" in line for line in lines), run.stderr
    assert "\r" not in run.stderr
    assert all(a != b for a, b in itertools.pairwise(lines)), lines  # one line per change

    status = await cli(dev_env, worker.task_queue, "status", server, "-o", "json")
    assert status.code == ExitCode.SUCCESS
    doc = status.json()
    assert doc["workflow_id"] == f"migrate-{server}"
    assert doc["outcome"] == "SUCCEEDED" and doc["result"]["final_host"] == "host2"
    assert doc["search_attributes"] == {
        "WatcherServerId": server,
        "WatcherSourceHost": "host1",
        "WatcherDestinationHost": "host2",
        "WatcherMigrationType": "live",
        "WatcherOutcome": "SUCCEEDED",
    }

    async def listed() -> bool:
        found = await cli(dev_env, worker.task_queue, "list", "--server", server, "-o", "json")
        return [w["workflow_id"] for w in found.json()["workflows"]] == [f"migrate-{server}"]

    await until(listed, timeout=30, what="list --server finds the migration")
    by_host = await cli(dev_env, worker.task_queue, "list", "--host", "host2", "--type", "live")
    assert by_host.code == 0 and f"migrate-{server}" in by_host.stdout


async def test_failed_migration_is_reverted_exit_5_json(
    dev_env: WorkflowEnvironment, worker: RunningWorker, localnova: LocalNovaHandle
) -> None:
    localnova.configure(live_migration_fail_hosts=["host2"])
    server = boot_on(localnova, "host1")
    run = await cli(
        dev_env,
        worker.task_queue,
        *("migrate", server, "--live", "--from", "host1", "--to", "host2", "--wait", "-o", "json"),
        "--poll-interval=0.5",
    )
    assert run.code == ExitCode.REVERTED, run
    doc = run.json()
    assert doc["outcome"] == "REVERTED" and doc["exit_code"] == 5
    assert doc["result"]["final_host"] == "host1"
    assert run.stderr == ""  # -o json: no progress drawn


async def test_server_not_on_source_is_skipped_exit_4(
    dev_env: WorkflowEnvironment, worker: RunningWorker, localnova: LocalNovaHandle
) -> None:
    server = boot_on(localnova, "host3")
    run = await cli(dev_env, worker.task_queue, "migrate", server, "--cold", "--from", "host1", "--wait")
    assert run.code == ExitCode.SKIPPED, run
    assert "SKIPPED" in run.stdout


async def test_second_migrate_is_refused_then_cancel_reverts_exit_3(
    dev_env: WorkflowEnvironment, worker: RunningWorker, localnova: LocalNovaHandle
) -> None:
    localnova.configure(live_migration_seconds=60)
    server = boot_on(localnova, "host1")
    first = await cli(dev_env, worker.task_queue, "migrate", server, "--live", "--from", "host1", "--to", "host2")
    assert first.code == 0 and f"started migrate-{server}" in first.stdout

    again = await cli(dev_env, worker.task_queue, "migrate", server, "--live", "--from", "host1", "-o", "json")
    assert again.code == ExitCode.ALREADY_RUNNING
    assert again.json()["outcome"] == "ALREADY_RUNNING"

    async def waiting() -> bool:
        status = await cli(dev_env, worker.task_queue, "status", f"migrate-{server}", "-o", "json")
        return status.code == 0 and (status.json()["progress"] or {}).get("phase") == "waiting"

    await until(waiting, timeout=30, what="the migration waits on Nova")
    cancel = await cli(dev_env, worker.task_queue, "cancel", server, "--wait", "--progress-interval=0.2")
    assert cancel.code == ExitCode.CANCELLED, cancel
    assert f"migrate-{server}: CANCELLED" in cancel.stdout
    # In words: how it was put back, and where the server is now.
    assert "the server is on host1 (ACTIVE)" in " ".join(cancel.stdout.split()), cancel.stdout
    status = await cli(dev_env, worker.task_queue, "status", server)
    assert status.code == ExitCode.CANCELLED


async def test_invalid_input_exits_2_before_starting(dev_env: WorkflowEnvironment, worker: RunningWorker) -> None:
    by_name = await cli(dev_env, worker.task_queue, "migrate", "web-1", "--live", "--from", "host1")
    assert by_name.code == ExitCode.USAGE
    assert "UUID" in by_name.stderr and "OS_CLOUD" in by_name.stderr

    server = str(uuid.uuid4())
    same = await cli(
        dev_env, worker.task_queue, "migrate", server, "--live", "--from", "h1", "--to", "h1", "-o", "json"
    )
    assert same.code == ExitCode.USAGE
    assert "destination_node must differ" in same.json()["error"]["message"]

    unknown = await cli(dev_env, worker.task_queue, "status", f"migrate-{server}")
    assert unknown.code == ExitCode.USAGE and "no workflow" in unknown.stderr

    no_type = await cli(dev_env, worker.task_queue, "migrate", server, "--from", "h1")
    assert no_type.code == ExitCode.USAGE  # argparse: one of --live/--cold required

    cold_stall = await cli(
        dev_env,
        worker.task_queue,
        "migrate",
        server,
        "--cold",
        "--from",
        "h1",
        "--progress-timeout",
        "60",
        "-o",
        "json",
    )
    assert cold_stall.code == ExitCode.USAGE
    assert "progress_timeout_seconds: only for live migrations" in cold_stall.json()["error"]["message"]


def test_every_command_has_json_output_and_exit_codes_in_help() -> None:
    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.dest == "command")
    assert {"migrate", "status", "cancel", "force-complete", "list"} <= set(subparsers.choices)  # type: ignore[attr-defined]
    assert "6   already running" in parser.format_help() and "7   no worker" in parser.format_help()
    for name, sub in subparsers.choices.items():  # type: ignore[attr-defined]
        assert "--output" in sub._option_string_actions, name
        text = " ".join(sub.format_help().split())
        # One line of the codes it can end with, not the whole table again.
        assert "exit codes: 0 success, 1 failed, 2 usage" in text, name
        assert "already running (a migration" not in text, name


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_on_a_tty_is_one_redrawn_bar() -> None:
    stream = _Tty()
    display = ProgressDisplay("migrate-x", stream)
    progress = {"phase": "waiting", "nova_migration_status": "running"}
    for remaining in (750, 250):
        raw = progress | {"memory_total_bytes": 1000, "memory_remaining_bytes": remaining}
        display.update(MigrationProgress.model_validate(raw))
    display.close()
    text = stream.getvalue()
    assert text.count("\r\x1b[K") == 2 and text.endswith("\n")
    assert " 25%" in text and " 75%" in text and "nova running" in text


def test_plan_progress_shows_counts() -> None:
    stream = io.StringIO()
    display = ProgressDisplay("plan-1", stream)
    states = ["PENDING", "PENDING", "ONGOING", "SUCCEEDED", "SUCCEEDED", "SUCCEEDED", "SKIPPED"]
    counts = {state: states.count(state) for state in ("PENDING", "ONGOING", "SUCCEEDED", "FAILED", "SKIPPED")}
    status = PlanStatus.model_validate(
        {
            "state": "ONGOING",
            "counts": counts,
            "actions": [{"id": f"a{i}", "action_type": "nop", "state": st} for i, st in enumerate(states)],
            "max_parallel": 2,
            "max_parallel_per_host": 2,
            "on_failure": "stop",
        }
    )
    display.update(status)
    assert stream.getvalue() == "plan-1: ONGOING  4/7 actions done  ongoing 1  succeeded 3  skipped 1\n"


def test_drain_flags_make_a_partial_drain_that_keeps_the_host_enabled() -> None:
    parser = build_parser()
    args = parser.parse_args(["drain-host", "host1", "--servers", "web-1, 4f0c1b7e-0000-4000-8000-000000000001"])
    request = drain_host.request_from_args(args)
    assert request.servers == ["web-1", "4f0c1b7e-0000-4000-8000-000000000001"]
    assert request.partial() and not request.disables_host()
    args = parser.parse_args(["drain-host", "host1", "--limit", "2", "--disable-host", "--ignore-capacity"])
    request = drain_host.request_from_args(args)
    assert (request.limit, request.disables_host(), request.ignore_capacity) == (2, True, True)
    full = drain_host.request_from_args(parser.parse_args(["drain-host", "host1", "--keep-enabled"]))
    assert not full.partial() and not full.disables_host()
    assert drain_host.request_from_args(parser.parse_args(["drain-host", "host1"])).disables_host()
    undrain = parser.parse_args(["undrain-host", "host1", "--move-back"])
    assert (undrain.command, undrain.host, undrain.move_back) == ("undrain-host", "host1", True)

"""The CLI contract: exit codes, ``-o json`` always one document, no tracebacks, safe and narrow text.

Unit tests run the parser and the renderers in-process; the integration
tests run ``python -m watcher_temporal.cli`` against the dev server, with and
without a worker polling the task queue.
"""

from __future__ import annotations

import io
import json
import uuid
from datetime import UTC, datetime

import pytest
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from localnova.harness import LocalNovaHandle
from tests.realstack import RunningWorker, boot_on
from tests.watcher_temporal.test_cli import cli
from watcher_temporal.cli import main
from watcher_temporal.cli.drain_host import plan_lines
from watcher_temporal.cli.exit_codes import ExitCode
from watcher_temporal.cli.progress import ProgressDisplay
from watcher_temporal.cli.render import table
from watcher_temporal.cli.report import Report, print_report
from watcher_temporal.contract import DrainResult, MigrationProgress, MigrationResult, PlanStatus

EVIL = "web\n2026-01-01 INFO forged\r\x1b[2J\x1b]8;;http://x\x07\x9b31m\u202eevil"
FORBIDDEN = ("\x1b", "\r", "\x07", "\x9b", "\u202e")


def _one_json(text: str) -> dict[str, object]:
    doc = json.loads(text)  # raises if not exactly one document
    assert isinstance(doc, dict)
    return doc


@pytest.mark.parametrize(
    "argv",
    [
        ["list", "--bogus", "-o", "json"],
        ["-o", "json"],  # no command
        ["migrate", str(uuid.uuid4()), "--from", "h1", "-o", "json"],  # neither --live nor --cold
        ["list", "--outcome", "MAYBE", "--output=json"],
        ["list", "--limit", "0", "-o", "json"],
        ["status", "x", "--wait-timeout", "-3", "-o", "json"],
    ],
)
def test_usage_errors_exit_2_with_one_json_document(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    try:
        code = main(argv)
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    out = capsys.readouterr()
    assert code == ExitCode.USAGE
    doc = _one_json(out.out)
    assert doc["exit_code"] == 2 and doc["error"]["type"] == "UsageError"  # type: ignore[index]
    assert "Traceback" not in out.err


def test_temporal_unreachable_is_one_line_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["status", "x", "--address", "127.0.0.1:1", "-o", "json"])
    out = capsys.readouterr()
    assert code == ExitCode.FAILED
    assert _one_json(out.out)["outcome"] == "TemporalUnavailable"
    assert "Traceback" not in out.err and out.err.count("\n") == 1


def test_bad_os_cloud_is_a_usage_error_without_traceback(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OS_CLOUD", "no-such-cloud")
    code = main(["migrate", "web-1", "--live", "--from", "h1", "-o", "json"])
    out = capsys.readouterr()
    assert code == ExitCode.USAGE
    assert "no-such-cloud" in _one_json(out.out)["error"]["message"]  # type: ignore[index]
    assert "Traceback" not in out.err


def test_drain_plan_id_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["drain-host", "host1", "--plan-id", "plan-x", "-o", "json"])
    out = capsys.readouterr()
    assert code == ExitCode.USAGE and "drain-<host>" in _one_json(out.out)["error"]["message"]  # type: ignore[index]


def _migration_result(reason: str, name: str) -> MigrationResult:
    now = datetime.now(UTC)
    return MigrationResult.model_validate(
        {
            "status": "REVERTED",
            "reason": reason,
            "resource_id": str(uuid.uuid4()),
            "resource_name": name,
            "migration_type": "cold",
            "source_node": "host1",
            "final_host": "host1",
            "revert": {"action": "resize_reverted", "steps": ["revert_resize"]},
            "timings": {"started_at": now, "finished_at": now, "seconds": 3.0},
        }
    )


def _plan_status(reason: str) -> PlanStatus:
    return PlanStatus.model_validate(
        {
            "state": "FAILED",
            "counts": {"SUCCEEDED": 1, "FAILED": 1},
            "actions": [
                {"id": "disable-host1", "action_type": "change_nova_service_state", "state": "SUCCEEDED"},
                {"id": "migrate-web", "action_type": "migrate", "state": "FAILED", "reason": reason},
            ],
            "max_parallel": 2,
            "max_parallel_per_host": 2,
            "on_failure": "stop",
        }
    )


@pytest.mark.parametrize("columns", [80, 40])
def test_untrusted_text_never_injects_lines_or_escapes(columns: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", str(columns))
    stream = io.StringIO()
    report = Report(
        workflow_id="migrate-x",
        workflow_type="MigrateServer",
        status="COMPLETED",
        outcome="REVERTED",
        result=_migration_result(EVIL, EVIL),
        error={"type": "MigrationFailed", "message": EVIL},
    )
    print_report(report, "text", stream)
    plan = Report(workflow_id=EVIL, workflow_type="MaintenancePlan", status="COMPLETED", outcome="FAILED")
    plan.result = _plan_status(EVIL)
    print_report(plan, "text", stream)
    text = stream.getvalue()
    assert not any(char in text for char in FORBIDDEN), repr(text)
    assert "\\x1b" in text and "\\u202e" in text  # escaped, visibly
    lines = text.splitlines()
    assert all(len(line) <= columns for line in lines), [line for line in lines if len(line) > columns]
    assert not any(line.startswith("2026-01-01 INFO forged") for line in lines)
    assert "revert: resize_reverted" in text  # the revert outcome in text
    assert "- migrate-web: FAILED:" in text and "evil" in text.split("migrate-web")[1]  # each action's reason


def test_json_output_of_untrusted_text_is_escaped() -> None:
    stream = io.StringIO()
    print_report(Report(workflow_id=EVIL, error={"type": "X", "message": EVIL}), "json", stream)
    assert not any(char in stream.getvalue() for char in (*FORBIDDEN, "\n2026"))
    assert _one_json(stream.getvalue())["workflow_id"] == EVIL


@pytest.mark.parametrize("width", [80, 40])
def test_progress_bar_and_tables_fit_the_terminal(width: int) -> None:
    display = ProgressDisplay("migrate-" + str(uuid.uuid4()), io.StringIO(), width=width)
    progress = MigrationProgress.model_validate(
        {
            "phase": "waiting",
            "nova_migration_status": EVIL,
            "memory_total_bytes": 8 << 30,
            "memory_remaining_bytes": 3 << 30,
        }
    )
    line = display.line(progress, 1234.0)
    assert len(line) < width and "%" in line and not any(c in line for c in FORBIDDEN)
    rows = [(f"migrate-{uuid.uuid4()}", "SUCCEEDED", "live", "compute-host-1", "compute-host-2", "2026-11-30T18:00:00")]
    lines = table(("WORKFLOW ID", "OUTCOME", "TYPE", "FROM", "TO", "STARTED"), rows, width, drop_order=(5, 4, 2, 3))
    assert all(len(line) <= width for line in lines)
    assert "SUCCEEDED" in lines[1]  # the outcome survives narrowing


def test_dry_run_plan_text_is_safe_and_narrow() -> None:
    status = _plan_status(EVIL)
    drain = DrainResult.model_validate(
        {
            "host": "host1",
            "dry_run": True,
            "plan": {
                "actions": [
                    {
                        "id": "migrate-1",
                        "action_type": "migrate",
                        "input_parameters": {
                            "resource_id": str(uuid.uuid4()),
                            "resource_name": EVIL,
                            "migration_type": "live",
                            "source_node": "host1",
                        },
                    }
                ],
                "max_parallel": status.max_parallel,
            },
            "left_behind": [{"resource_id": "x", "status": "ERROR", "reason": EVIL}],
        }
    )
    lines = plan_lines(drain, 40)
    assert all(len(line) <= 40 for line in lines)
    assert not any(c in "\n".join(lines) for c in FORBIDDEN)


pytestmark_integration = pytest.mark.integration


@pytestmark_integration
async def test_no_worker_warns_and_wait_fails_fast_exit_7(dev_env: WorkflowEnvironment) -> None:
    queue = f"nobody-{uuid.uuid4().hex[:8]}"
    server = str(uuid.uuid4())
    waited = await cli(
        dev_env, queue, "migrate", server, "--live", "--from", "host1", "--wait", "--worker-wait", "0", "-o", "json"
    )
    assert waited.code == ExitCode.NO_WORKER, waited
    doc = _one_json(waited.stdout)
    assert doc["outcome"] == "NoWorker" and queue in doc["error"]["message"]  # type: ignore[index,operator]
    started = [w async for w in dev_env.client.list_workflows(f'WorkflowId = "migrate-{server}"')]
    assert started == []  # refused before starting: nothing runs later unasked

    dry = await cli(dev_env, queue, "drain-host", "host1", "--dry-run", "--worker-wait", "0")
    assert dry.code == ExitCode.NO_WORKER and "no worker polls task queue" in dry.stderr

    accepted = await cli(dev_env, queue, "migrate", server, "--live", "--from", "host1")
    assert accepted.code == ExitCode.SUCCESS
    assert "warning: no worker polls task queue" in accepted.stderr
    followed = await cli(dev_env, queue, "status", server, "--wait", "--worker-wait", "0")
    assert followed.code == ExitCode.NO_WORKER and "no worker polls task queue" in followed.stderr
    await dev_env.client.get_workflow_handle(f"migrate-{server}").terminate(reason="test cleanup")


@pytestmark_integration
async def test_bad_query_exits_2_with_json(dev_env: WorkflowEnvironment) -> None:
    run = await cli(dev_env, "any", "list", "--query", "NoSuchField === 'x", "-o", "json")
    assert run.code == ExitCode.USAGE, run
    assert _one_json(run.stdout)["exit_code"] == 2 and "Traceback" not in run.stderr


@pytestmark_integration
async def test_dry_run_leaves_nothing_running_and_outcomes_are_listed(
    dev_env: WorkflowEnvironment, worker: RunningWorker, localnova: LocalNovaHandle
) -> None:
    dry = await cli(dev_env, worker.task_queue, "drain-host", "host1", "--dry-run", "-o", "json")
    assert dry.code == ExitCode.SUCCESS, dry
    doc = _one_json(dry.stdout)
    assert doc["outcome"] == "DRY_RUN" and doc["dry_run"] is True
    open_drains = [
        w
        async for w in dev_env.client.list_workflows('WorkflowType = "DrainHost" AND ExecutionStatus = "Running"')
        if w.id.startswith("dry-run-drain-host1-")
    ]
    assert open_drains == []
    handle = dev_env.client.get_workflow_handle(str(doc["workflow_id"]))
    assert (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED

    server = boot_on(localnova, "host3")
    skipped = await cli(dev_env, worker.task_queue, "migrate", server, "--cold", "--from", "host1", "--wait")
    assert skipped.code == ExitCode.SKIPPED, skipped
    status = await cli(dev_env, worker.task_queue, "status", server, "-o", "json")
    assert _one_json(status.stdout)["outcome"] == "SKIPPED" and status.code == ExitCode.SKIPPED
    listed = await cli(dev_env, worker.task_queue, "list", "--server", server, "--outcome", "skipped", "-o", "json")
    rows = _one_json(listed.stdout)["workflows"]
    assert [row["outcome"] for row in rows] == ["SKIPPED"]  # type: ignore[union-attr,index]
    none = await cli(dev_env, worker.task_queue, "list", "--server", server, "--outcome", "SUCCEEDED", "-o", "json")
    assert _one_json(none.stdout)["workflows"] == []
    text = await cli(dev_env, worker.task_queue, "list", "--server", server, env={"COLUMNS": "40"})
    assert "SKIPPED" in text.stdout and all(len(line) <= 40 for line in text.stdout.splitlines())

"""A new operator's first hour: every mistake is one line and an exit code, and the CLI answers at once.

Unit tests run the parser, the query builder and the renderers in-process or
as a subprocess (what gets imported, closed pipes); the integration tests run
the CLI and the worker against the dev server and localnova.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from localnova.harness import LocalNovaHandle
from tests.realstack import RunningWorker, boot_on
from tests.watcher_temporal.test_cli import cli
from watcher_temporal.binaries import temporal_cli_path
from watcher_temporal.cli import build_parser, main, options
from watcher_temporal.cli.exit_codes import ExitCode
from watcher_temporal.cli.list_migrations import check_user_query
from watcher_temporal.cli.render import terminal_width
from watcher_temporal.cli.report import Report, print_report
from watcher_temporal.cli.runner import run_command
from watcher_temporal.contract import (
    DEFAULT_MAX_PARALLEL_PER_SOURCE,
    MAX_FORCE_COMPLETES,
    MAX_PARALLEL_LIMIT,
    MigrationProgress,
    OnFailure,
)

REPO = Path(__file__).resolve().parents[2]
ESCAPE = 'WorkflowId != "") OR (WorkflowType = "MaintenancePlan"'
#: Modules a command line that only asks for help must not load.
HEAVY = ("openstack", "keystoneauth1", "watcher_temporal.activities", "watcher_temporal.workflows", "temporalio")


def _subcommands() -> list[str]:
    parser = build_parser()
    action = next(a for a in parser._actions if a.dest == "command")
    return sorted(action.choices)  # type: ignore[arg-type]


def _loaded_after(argv: list[str]) -> set[str]:
    """The modules a fresh interpreter holds after ``watcher-temporal ARGV`` parsed (help exits)."""
    code = (
        "import sys, json\n"
        "from watcher_temporal.cli import main\n"
        "try:\n"
        f"    main({argv!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        "sys.stdout.flush()\n"
        "print('\\nMODULES ' + json.dumps(sorted(sys.modules)))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.rsplit("MODULES ", 1)[1]))


@pytest.mark.parametrize("argv", [["--help"], *[[name, "--help"] for name in _subcommands()]])
def test_help_loads_neither_temporal_nor_openstack_nor_worker_code(argv: list[str]) -> None:
    loaded = _loaded_after(argv)
    heavy = sorted(m for m in loaded if m.startswith(HEAVY))
    assert heavy == [], f"{argv}: {heavy[:10]}"


def test_commands_that_do_not_call_nova_never_load_openstack() -> None:
    code = (
        "import sys\n"
        "import watcher_temporal.cli.runner, watcher_temporal.cli.session, watcher_temporal.cli.progress\n"
        "import watcher_temporal.cli.report, watcher_temporal.cli.servers, watcher_temporal.cli.workers\n"
        "print(sorted(m for m in sys.modules if m.startswith(('openstack', 'keystoneauth1',"
        " 'watcher_temporal.activities', 'watcher_temporal.workflows', 'watcher_temporal.worker'))))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_help_mirrors_of_the_contract_are_true() -> None:
    assert set(options.ON_FAILURE_CHOICES) == {p.value for p in OnFailure}
    assert options.MAX_PARALLEL_LIMIT == MAX_PARALLEL_LIMIT
    assert options.DEFAULT_MAX_PARALLEL_PER_SOURCE == DEFAULT_MAX_PARALLEL_PER_SOURCE
    assert options.MAX_FORCE_COMPLETES == MAX_FORCE_COMPLETES


def test_help_text_is_plain_and_complete() -> None:
    parser = build_parser()
    action = next(a for a in parser._actions if a.dest == "command")
    for name, sub in action.choices.items():  # type: ignore[union-attr]
        text = sub.format_help()
        assert "``" not in text, name  # no RST markup
        if "--on-failure" in sub._option_string_actions:
            assert "watcher" in " ".join(text.split()), name  # every choice explained
    set_limits = " ".join(action.choices["set-limits"].format_help().split())  # type: ignore[index]
    assert "server UUID" not in set_limits
    assert "plan or drain" in set_limits


def test_set_limits_refuses_a_server_uuid_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["set-limits", str(uuid.uuid4()), "--max-parallel", "2", "-o", "json"])
    out = capsys.readouterr()
    assert code == ExitCode.USAGE
    assert "drain-HOST" in json.loads(out.out)["error"]["message"]


@pytest.mark.parametrize(
    "query",
    [
        ESCAPE,
        'WorkflowId = "x")',
        '(WorkflowId = "x"',
        'WorkflowId = "x',
        'WorkflowId = \'x") OR ("',
        "",
    ],
)
def test_a_query_that_could_leave_its_parentheses_is_refused(query: str, capsys: pytest.CaptureFixture[str]) -> None:
    # Refused before any connection: no Temporal is running here.
    code = main(["list", "--host", "host1", "--query", query, "--address", "127.0.0.1:1", "-o", "json"])
    out = capsys.readouterr()
    assert code == ExitCode.USAGE, out
    assert json.loads(out.out)["error"]["type"] == "UsageError"


def test_balanced_queries_and_quoted_values_stay_inside_the_filters() -> None:
    assert (
        check_user_query("(WorkflowId = \"a)(\" OR WorkflowId = 'b')") == "(WorkflowId = \"a)(\" OR WorkflowId = 'b')"
    )
    assert check_user_query('WorkflowId = "say \\"hi\\")"') == 'WorkflowId = "say \\"hi\\")"'


def test_output_into_a_pipe_keeps_every_column(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    assert terminal_width(io.StringIO(), cut=False) > 10_000
    assert terminal_width(io.StringIO()) == 80  # reports and progress still wrap
    monkeypatch.setenv("COLUMNS", "40")
    assert terminal_width(io.StringIO(), cut=False) == 40


def test_a_cancelled_migration_says_how_it_was_put_back_and_where_it_is() -> None:
    progress = MigrationProgress.model_validate(
        {
            "phase": "done",
            "revert": {
                "action": "aborted",
                "steps": ["abort 7"],
                "server": {"id": "s", "status": "ACTIVE", "host": "host1"},
            },
        }
    )
    report = Report(workflow_id="migrate-s", workflow_type="MigrateServer", status="CANCELED", outcome="CANCELLED")
    report.progress = progress
    stream = io.StringIO()
    print_report(report, "text", stream)
    text = " ".join(stream.getvalue().split())
    assert "revert aborted" not in text
    assert "stopped before it finished" in text and "the server is on host1 (ACTIVE)" in text


def _into_closed_pipe(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[bytes]:
    """The console script with its stdout a pipe nobody reads any more (``| head`` after it exited)."""
    reader, writer = os.pipe()
    os.close(reader)
    try:
        return subprocess.run(
            [sys.executable, "-c", "from watcher_temporal.cli import console_main; console_main()", *argv],
            stdout=writer,
            stderr=subprocess.PIPE,
            env=env,
            timeout=120,
            cwd=REPO,
        )
    finally:
        os.close(writer)


class _ClosedPipe(io.StringIO):
    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


def test_output_into_a_closed_pipe_is_quiet_exit_141(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    async def prints_a_report(args: argparse.Namespace) -> int:
        print_report(Report(workflow_id="migrate-x", status="COMPLETED", outcome="SUCCEEDED"), "json")
        return 0

    monkeypatch.setattr(sys, "stdout", _ClosedPipe())
    code = run_command(argparse.Namespace(command_run=prints_a_report, output="json"))
    assert code == ExitCode.BROKEN_PIPE
    assert capsys.readouterr().err == ""  # no traceback, and no second report of the same error


def test_worker_help_prints_help_and_exits_without_connecting() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEMPORAL_", "OS_"))}
    env["TEMPORAL_ADDRESS"] = "127.0.0.1:1"
    done = subprocess.run(
        [sys.executable, "-m", "watcher_temporal.worker", "--help"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: watcher-temporal-worker") and "TEMPORAL_ADDRESS" in done.stdout
    assert "polling" not in done.stderr and "cannot reach" not in done.stderr


def test_worker_with_a_wrong_temporal_address_says_one_line_exit_1() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEMPORAL_", "OS_", "WATCHER_TEMPORAL_"))}
    env |= {"TEMPORAL_ADDRESS": "127.0.0.1:1", "WATCHER_TEMPORAL_CHECK_NOVA": "0"}
    done = subprocess.run(
        [sys.executable, "-m", "watcher_temporal.worker"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        cwd=REPO,
    )
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert "cannot reach Temporal at 127.0.0.1:1 (TEMPORAL_ADDRESS)" in lines[0]


def _doc_queries() -> list[str]:
    found = []
    for doc in (REPO / "README.md", REPO / "docs" / "cli.md"):
        found += re.findall(r"--query '([^']+)'", doc.read_text())
    return found


def test_the_docs_have_query_examples() -> None:
    assert _doc_queries(), "docs/cli.md or README.md should show a --query example"


pytestmark_integration = pytest.mark.integration


@pytestmark_integration
@pytest.mark.parametrize("query", _doc_queries())
async def test_every_query_example_of_the_docs_runs_as_written(dev_env: WorkflowEnvironment, query: str) -> None:
    run = await cli(dev_env, "any", "list", "--all-types", "--query", query, "-o", "json")
    assert run.code == ExitCode.SUCCESS, run


@pytestmark_integration
async def test_status_and_cancel_check_the_workflows_own_queue(
    dev_env: WorkflowEnvironment, worker: RunningWorker
) -> None:
    server = str(uuid.uuid4())
    nobody = f"nobody-{uuid.uuid4().hex[:8]}"
    started = await cli(
        dev_env, worker.task_queue, "migrate", server, "--live", "--from", "host1", "--task-queue", nobody
    )
    assert started.code == ExitCode.SUCCESS, started
    # The CLI's own queue has a worker; the workflow's has none: no hang, exit 7 naming the workflow's queue.
    for argv in (["status", server, "--wait"], ["cancel", server, "--wait"]):
        run = await cli(dev_env, worker.task_queue, *argv, "--worker-wait", "0.5", "--wait-timeout", "60")
        assert run.code == ExitCode.NO_WORKER, (argv, run)
        assert nobody in run.stderr
    await dev_env.client.get_workflow_handle(f"migrate-{server}").terminate(reason="test cleanup")


@pytestmark_integration
async def test_status_into_a_closed_pipe_is_quiet(dev_env: WorkflowEnvironment, worker: RunningWorker) -> None:
    server = str(uuid.uuid4())
    ended = await cli(dev_env, worker.task_queue, "migrate", server, "--live", "--from", "host1", "--wait")
    assert ended.code == ExitCode.NO_SUCH_SERVER, ended
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("OS_", "TEMPORAL_"))},
        "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
        "PYTHONUNBUFFERED": "1",
    }
    argv = ["status", server, "-o", "json"]
    done = await asyncio.to_thread(_into_closed_pipe, argv, env)
    assert done.returncode == ExitCode.BROKEN_PIPE
    assert done.stderr == b""


@pytestmark_integration
async def test_a_server_nova_does_not_know_has_its_own_exit_code(
    dev_env: WorkflowEnvironment, worker: RunningWorker, localnova: LocalNovaHandle
) -> None:
    ghost = str(uuid.uuid4())
    run = await cli(dev_env, worker.task_queue, "migrate", ghost, "--live", "--from", "host1", "--wait")
    assert run.code == ExitCode.NO_SUCH_SERVER, run
    assert "does not exist" in run.stdout
    elsewhere = boot_on(localnova, "host3")
    run = await cli(dev_env, worker.task_queue, "migrate", elsewhere, "--live", "--from", "host1", "--wait")
    assert run.code == ExitCode.SKIPPED, run
    listed = await cli(dev_env, worker.task_queue, "list", "--server", elsewhere)
    header = listed.stdout.splitlines()[0]
    assert "TO" in header and "STARTED" in header  # into a pipe: every column


@pytestmark_integration
async def test_list_says_the_outcome_status_says(dev_env: WorkflowEnvironment, worker: RunningWorker) -> None:
    dry = await cli(dev_env, worker.task_queue, "drain-host", "host1", "--dry-run", "-o", "json")
    assert dry.code == ExitCode.SUCCESS, dry
    workflow_id = dry.json()["workflow_id"]
    status = await cli(dev_env, worker.task_queue, "status", workflow_id, "-o", "json")
    listed = await cli(
        dev_env, worker.task_queue, "list", "--all-types", "--query", f'WorkflowId = "{workflow_id}"', "-o", "json"
    )
    [row] = listed.json()["workflows"]
    assert row["outcome"] == status.json()["outcome"] == "DRY_RUN"


@pytestmark_integration
async def test_first_migrate_on_a_fresh_server_says_what_to_do() -> None:
    from temporalio.contrib.pydantic import pydantic_data_converter

    # A dev server without the project's search attributes, and no worker: what a newcomer meets first.
    async with await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_cli_path(), data_converter=pydantic_data_converter
    ) as fresh:
        run = await cli(fresh, "watcher-actions", "migrate", str(uuid.uuid4()), "--live", "--from", "host1")
    assert run.code == ExitCode.USAGE, run
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr  # no "it runs when a worker starts" before the refusal
    assert "search attributes" in lines[0] and "watcher-temporal-worker" in lines[0]
    assert "python -m watcher_temporal.search_attributes" in lines[0]


def test_no_hidden_up_arrows() -> None:
    """The product never imports localnova (the demo lives there), and the CLI never imports worker-side code."""
    product = [p for top in ("watcher_temporal", "workflows", "activities") for p in (REPO / top).rglob("*.py")]
    assert product
    for path in product:
        assert not re.search(r"^\s*(from|import) localnova\b", path.read_text(), re.M), path
    worker_side = r"^\s*(from|import) watcher_temporal\.(activities|workflows|worker)\b"
    for path in (REPO / "watcher_temporal" / "cli").rglob("*.py"):
        assert not re.search(worker_side, path.read_text(), re.M), path


def test_an_unusable_temporal_profile_is_one_line_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TEMPORAL_PROFILE", "no-such-profile")
    code = main(["list", "-o", "json"])
    out = capsys.readouterr()
    assert code == ExitCode.USAGE
    assert "no-such-profile" in json.loads(out.out)["error"]["message"]
    assert out.err.count("\n") == 1 and "Traceback" not in out.err
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "WATCHER_TEMPORAL_"))}
    env |= {"TEMPORAL_PROFILE": "no-such-profile", "WATCHER_TEMPORAL_CHECK_NOVA": "0"}
    worker = subprocess.run(
        [sys.executable, "-m", "watcher_temporal.worker"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        cwd=REPO,
    )
    assert worker.returncode == 2
    assert worker.stderr.strip().count("\n") == 0 and "no-such-profile" in worker.stderr, worker.stderr


@pytestmark_integration
async def test_a_server_name_is_looked_up_in_os_cloud(
    dev_env: WorkflowEnvironment, worker: RunningWorker, localnova: LocalNovaHandle
) -> None:
    server = boot_on(localnova, "host3")
    name = localnova.conn.compute.get_server(server).name
    run = await cli(
        dev_env, worker.task_queue, "migrate", name, "--cold", "--from", "host1", "--wait", env=localnova.env()
    )
    assert run.code == ExitCode.SKIPPED, run  # found by name: the workflow of that UUID ran (and skipped)
    assert f"migrate-{server}: SKIPPED" in run.stdout
    unknown = await cli(
        dev_env, worker.task_queue, "migrate", "no-such-name", "--cold", "--from", "host1", env=localnova.env()
    )
    assert unknown.code == ExitCode.USAGE and "no server named no-such-name" in unknown.stderr


def test_the_shells_clouds_and_temporal_never_reach_a_test_or_its_processes() -> None:
    from localnova.hermetic import without_foreign

    hostile = {"OS_CLOUD": "prod", "OS_CLIENT_CONFIG_FILE": "/etc/x", "TEMPORAL_ADDRESS": "prod:7233", "HOME": "/h"}
    assert without_foreign(hostile) == {"HOME": "/h"}
    # tests/conftest.py dropped them from this session (and so from every process it starts).
    assert [name for name in os.environ if name.startswith(("OS_", "TEMPORAL_", "OTEL_"))] == []

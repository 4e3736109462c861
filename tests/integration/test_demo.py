"""The demo, as a newcomer runs it, in a shell that points at other clouds and another Temporal.

``python -m localnova.demo --keep-running`` under a hostile environment
(``OS_CLIENT_CONFIG_FILE`` naming a dead ``localnova`` cloud, ``OS_CLOUD`` and
``TEMPORAL_ADDRESS`` set) must still use only what it started, pass, keep its
worker's log out of its table, and leave servers and stalled migrations on
which every CLI example of the README runs as written.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import sys
from pathlib import Path

import pytest

from tests.conditions import until

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def readme_commands() -> list[str]:
    """The README's shell commands that need the demo, continuation lines joined, in order."""
    text = (REPO / "README.md").read_text()
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", text, flags=re.S):
        for command in block.replace("\\\n", " ").splitlines():
            if command.startswith((".venv/bin/watcher-temporal ", ".venv/bin/temporal workflow ")):
                commands.append(command)
    return commands


def test_the_readme_examples_use_the_demo_servers() -> None:
    commands = readme_commands()
    assert len(commands) >= 5
    assert not any("compute-1" in c or re.search(r"[0-9a-f]{8}-[0-9a-f]{4}-", c) for c in commands)
    assert any("force-complete $STALLED" in c for c in commands) and any("cancel $STALLED_2" in c for c in commands)


async def _run(command: str, env: dict[str, str]) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        "bash", "-c", command, cwd=REPO, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    async with asyncio.timeout(240):
        out, _ = await proc.communicate()
    return int(proc.returncode or 0), out.decode()


async def test_demo_is_hermetic_and_every_readme_example_runs_on_it(tmp_path: Path) -> None:
    dead = tmp_path / "clouds.yaml"
    dead.write_text(
        "clouds:\n  localnova:\n    auth_type: admin_token\n    auth:\n"
        "      endpoint: http://127.0.0.1:1/v2.1\n      token: nobody\n"
    )
    hostile = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "TEMPORAL_"))}
    hostile |= {"OS_CLIENT_CONFIG_FILE": str(dead), "OS_CLOUD": "localnova", "TEMPORAL_ADDRESS": "127.0.0.1:1"}
    log = tmp_path / "worker.log"
    argv = ["--temporal-port", str(_free_port()), "--ui-port", str(_free_port()), "--keep-running"]
    demo = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "localnova.demo",
        *argv,
        "--log",
        str(log),
        cwd=REPO,
        env=hostile,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert demo.stdout is not None
    lines: list[str] = []
    try:
        async with asyncio.timeout(600):
            while not any(line.startswith("  export ") for line in lines):
                raw = await demo.stdout.readline()
                assert raw, "the demo ended early:\n" + "".join(lines)
                lines.append(raw.decode())
        table = "".join(lines)
        assert "All outcomes as expected." in table, table
        assert not re.search(r"\b(WARNING|ERROR|Traceback)\b", table), (
            table
        )  # the worker and the dev server log to a file
        assert log.stat().st_size > 0
        exports = next(line for line in lines if line.startswith("  export ")).split()[1:]
        env = hostile | dict(item.split("=", 1) for item in exports)

        async def stalled() -> bool:
            for name in ("STALLED", "STALLED_2"):
                code, out = await _run(f".venv/bin/watcher-temporal status ${name} -o json", env)
                progress = json.loads(out).get("progress") or {}
                if code != 0 or progress.get("nova_migration_status") != "running":
                    return False
            return True

        await until(stalled, timeout=120, what="both stalled live migrations copy in Nova")
        for command in readme_commands():
            code, out = await _run(command, env)
            expected = 3 if " cancel " in command else 0
            assert code == expected, f"{command}\n{out}"
    finally:
        if demo.returncode is None:
            demo.send_signal(signal.SIGINT)
        async with asyncio.timeout(120):
            await demo.wait()
    assert demo.returncode == 0

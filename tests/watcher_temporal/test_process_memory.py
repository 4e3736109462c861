"""The worker's malloc arena cap: set on glibc, and an operator's MALLOC_ARENA_MAX wins."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

from watcher_temporal.config import WorkerSettings
from watcher_temporal.process_memory import limit_malloc_arenas

CHILD = "from watcher_temporal.process_memory import limit_malloc_arenas as f; print(f(2))"


def run_child(env: dict[str, str]) -> str:
    # A child process: the cap is process-wide and must be set before threads start.
    return subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, check=True).stdout


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc only")
def test_the_cap_is_set_on_glibc() -> None:
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    assert run_child(env).strip() == "True"


def test_an_operators_malloc_arena_max_wins() -> None:
    assert WorkerSettings.from_env({"MALLOC_ARENA_MAX": "4"}).malloc_arenas is None
    assert WorkerSettings.from_env({}).malloc_arenas == 2
    assert limit_malloc_arenas(None) is False

"""The house as installed: one module object per file, only ``watcher_temporal`` in the wheel.

pyproject.toml maps the design card's top-level ``workflows/`` and
``activities/`` into ``watcher_temporal`` (setuptools' package-dir), and the
top-level ``worker.py`` only runs ``watcher_temporal.worker``. These tests keep
that mapping whole as files are added, and keep links out of the tree.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
#: Where each installed package's files live in the checkout.
PACKAGE_ROOTS = {
    "watcher_temporal": REPO / "watcher_temporal",
    "watcher_temporal.workflows": REPO / "workflows",
    "watcher_temporal.activities": REPO / "activities",
}
SKIP_DIRS = {".git", ".venv", "build", "dist", "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache"}


def _packages_on_disk() -> set[str]:
    found = set()
    for name, root in PACKAGE_ROOTS.items():
        for init in root.rglob("__init__.py"):
            rel = init.parent.relative_to(root)
            if "__pycache__" in rel.parts or (
                name == "watcher_temporal" and rel.parts[:1] in {("workflows",), ("activities",)}
            ):
                continue
            found.add(".".join((name, *rel.parts)))
    return found


def test_pyproject_lists_every_package_and_maps_the_top_level_folders() -> None:
    setuptools_cfg = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert set(setuptools_cfg["packages"]) == _packages_on_disk()
    assert setuptools_cfg["package-dir"]["watcher_temporal.workflows"] == "workflows"
    assert setuptools_cfg["package-dir"]["watcher_temporal.activities"] == "activities"


def test_no_links_in_the_tree() -> None:
    links = []
    for top, dirs, files in os.walk(REPO):
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS]
        links += [os.path.join(top, n) for n in dirs + files if os.path.islink(os.path.join(top, n))]
    assert links == []


def test_top_level_folders_refuse_a_second_import_name() -> None:
    for module in ("workflows.migrate_server", "activities.migrate"):
        run = subprocess.run(
            [sys.executable, "-c", f"import {module}"], cwd=REPO, capture_output=True, text=True, timeout=120
        )
        assert run.returncode != 0
        assert f"import watcher_temporal.{module.split('.')[0]}, not {module.split('.')[0]}" in run.stderr


def test_each_workflow_class_is_defined_once_where_the_design_card_puts_it() -> None:
    from watcher_temporal.workflows import ALL_WORKFLOWS

    for wf in ALL_WORKFLOWS:
        assert Path(sys.modules[wf.__module__].__file__ or "").resolve().is_relative_to(REPO / "workflows")
    definitions: dict[str, int] = {}
    for top, dirs, files in os.walk(REPO):
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS and d != "tests"]
        for name in files:
            if name.endswith(".py"):
                tree = ast.parse(Path(top, name).read_text(), name)
                for node in ast.walk(tree):
                    if isinstance(node, ast.ClassDef):
                        definitions[node.name] = definitions.get(node.name, 0) + 1
    assert {wf.__name__: definitions.get(wf.__name__) for wf in ALL_WORKFLOWS} == {
        wf.__name__: 1 for wf in ALL_WORKFLOWS
    }


@pytest.mark.integration
def test_the_wheel_installs_only_watcher_temporal(tmp_path: Path) -> None:
    """Build the wheel as pip would (setuptools from the dev extra, no network), from a clean copy of the sources.

    A copy, because setuptools reuses a checkout's build/ directory: a file removed from the sources
    would still ship from an earlier build there.
    """
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "worker.py"):
        shutil.copy2(REPO / name, source / name)
    for name in ("watcher_temporal", "workflows", "activities"):
        shutil.copytree(REPO / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path),
            ".",
        ],
        cwd=source,
        check=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {n.split("/")[0] for n in names} == {
        "watcher_temporal",
        wheel.name.split("-")[0] + "-" + wheel.name.split("-")[1] + ".dist-info",
    }
    assert "watcher_temporal/workflows/migrate_server.py" in names
    assert "watcher_temporal/activities/migrate.py" in names
    assert "watcher_temporal/worker.py" in names
    wheel_file = zipfile.ZipFile(wheel)
    importing_localnova = [
        n
        for n in names
        if n.endswith(".py") and re.search(rb"^\s*(from|import)\s+localnova\b", wheel_file.read(n), re.M)
    ]
    assert importing_localnova == []  # the demo and the test cloud are not the product

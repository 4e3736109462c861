"""A released version's code on this machine: found by commit, unpacked, its worker run as a process.

The releases are listed in ``tests/upgrade/RELEASES`` (tag and commit). A clone
may carry no tags (CI's often does not), so a release is found by its commit
first and by its tag only when the commit is missing; a tag that names another
commit than the file is an error. The release's tree is unpacked with
``git archive`` into a temporary directory (no worktree left behind in the
repository) and runs on this checkout's virtualenv: ``PYTHONPATH`` puts the
release's ``watcher_temporal`` before the installed one.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.realstack import REPO, WorkerProcess

RELEASES_FILE = Path(__file__).with_name("RELEASES")


class ReleaseNotFound(RuntimeError):
    """The clone holds neither the release's commit nor its tag."""


@dataclass(frozen=True)
class Release:
    """One released version: its tag and the commit the tag names."""

    tag: str
    commit: str


def releases(path: Path = RELEASES_FILE) -> list[Release]:
    """Every release listed in ``RELEASES``, oldest first."""
    found = []
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            tag, commit = line.split()
            found.append(Release(tag=tag, commit=commit))
    return found


def latest_release() -> Release:
    """The newest release in ``RELEASES``."""
    return releases()[-1]


def _git(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, check=False)


def _commit_of(ref: str) -> str | None:
    done = _git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    return done.stdout.decode().strip() if done.returncode == 0 else None


def release_commit(release: Release) -> str:
    """The release's commit in this clone: by the recorded hash, else by its tag.

    Raises:
        ReleaseNotFound: neither is here (a shallow clone), or the tag names
            another commit than ``RELEASES`` records.
    """
    by_hash = _commit_of(release.commit)
    by_tag = _commit_of(f"refs/tags/{release.tag}")
    if by_tag is not None and by_tag != release.commit:
        raise ReleaseNotFound(f"tag {release.tag} names {by_tag}, but tests/upgrade/RELEASES records {release.commit}")
    if by_hash is None and by_tag is None:
        raise ReleaseNotFound(
            f"release {release.tag} ({release.commit}) is not in this clone; "
            "fetch the full history: git fetch --unshallow (or git fetch origin --tags)"
        )
    return by_hash or release.commit


@contextmanager
def release_tree(release: Release) -> Iterator[Path]:
    """The release's files, unpacked into a temporary directory removed afterwards."""
    commit = release_commit(release)
    archive = _git("archive", "--format=tar", commit)
    if archive.returncode != 0:
        raise ReleaseNotFound(f"git archive {commit}: {archive.stderr.decode(errors='replace')[:500]}")
    with tempfile.TemporaryDirectory(prefix=f"watcher-temporal-{release.tag}-") as tmp:
        tree = Path(tmp)
        with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
            tar.extractall(tree, filter="data")  # the package symlinks point inside the tree
        yield tree


def release_env(tree: Path, env: dict[str, str]) -> dict[str, str]:
    """``env`` with the release's code first on the import path."""
    return {**env, "PYTHONPATH": str(tree)}


def imported_from(tree: Path) -> Path:
    """Where ``watcher_temporal.workflows`` comes from for a process run with :func:`release_env`."""
    done = subprocess.run(
        [sys.executable, "-c", "import watcher_temporal.workflows as w; print(w.__file__)"],
        cwd=tree,
        env=release_env(tree, dict(os.environ)),
        capture_output=True,
        text=True,
        check=True,
    )
    return Path(done.stdout.strip())


def release_worker(tree: Path, env: dict[str, str]) -> WorkerProcess:
    """The release's ``python worker.py`` as a separate process (killed with SIGKILL, as a crash)."""
    return WorkerProcess(release_env(tree, env), root=tree)

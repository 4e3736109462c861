"""The newest release is found by the commit ``RELEASES`` records and runs its own code on this venv."""

from __future__ import annotations

import pytest

from tests.upgrade.release import Release, ReleaseNotFound, imported_from, latest_release, release_commit, release_tree


def test_the_release_is_found_by_its_recorded_commit() -> None:
    release = latest_release()
    assert release_commit(release) == release.commit


def test_a_commit_the_clone_lacks_is_named_with_the_way_to_fetch_it() -> None:
    missing = Release(tag="v0.0.0-never", commit="0" * 40)
    with pytest.raises(ReleaseNotFound, match="git fetch --unshallow"):
        release_commit(missing)


def test_the_unpacked_release_imports_its_own_workflows_not_this_checkouts() -> None:
    with release_tree(latest_release()) as tree:
        assert (tree / "worker.py").is_file()
        assert imported_from(tree).is_relative_to(tree)

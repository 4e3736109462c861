"""pytest plugin: one localnova cloud per test session.

Enable it in a conftest.py::

    pytest_plugins = ["localnova.pytest_plugin"]

Fixtures:

* ``localnova_cloud`` (session): the :class:`~localnova.harness.LocalNovaHandle`
  of a cloud started once per run (hosts host1..host3, no servers).
* ``localnova`` (function): the same handle, with the knobs reset to their
  start-up values and the request stats zeroed before the test; servers are
  left alone (tests delete what they boot, or call
  ``delete_all_servers()``).

Options: ``--localnova-hosts host1,host2,host3``, ``--localnova-debug``
(Nova DEBUG log) and ``--localnova-keystone`` (real keystone, password auth).
The environment variables ``LOCALNOVA_HOSTS``, ``LOCALNOVA_DEBUG=1`` and
``LOCALNOVA_KEYSTONE=1`` do the same.  If the cloud dies during the run, the
``localnova`` fixture fails the test with the tail of its log.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from localnova.harness import LocalNova, LocalNovaError, LocalNovaHandle


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("localnova")
    group.addoption(
        "--localnova-hosts", default=None, help="compute hosts of the session cloud (default host1,host2,host3)"
    )
    group.addoption(
        "--localnova-debug", action="store_true", default=False, help="log Nova at DEBUG in the localnova log"
    )
    group.addoption(
        "--localnova-keystone",
        action="store_true",
        default=False,
        help="run the session cloud with a real keystone (password auth, real keystonemiddleware)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "integration: needs a real (localnova) cloud")


@pytest.fixture(scope="session")
def localnova_cloud(request: pytest.FixtureRequest) -> Iterator[LocalNovaHandle]:
    """A cloud shared by the whole test session."""
    hosts = request.config.getoption("--localnova-hosts") or os.environ.get("LOCALNOVA_HOSTS") or "host1,host2,host3"
    debug = request.config.getoption("--localnova-debug") or os.environ.get("LOCALNOVA_DEBUG") == "1"
    keystone = request.config.getoption("--localnova-keystone") or os.environ.get("LOCALNOVA_KEYSTONE") == "1"
    cloud = LocalNova(hosts=[h for h in hosts.split(",") if h], debug=debug, keystone=keystone)
    handle = cloud.start()
    try:
        yield handle
    finally:
        cloud.stop()


@pytest.fixture
def localnova(localnova_cloud: LocalNovaHandle) -> LocalNovaHandle:
    """The session cloud with knobs and stats reset for this test."""
    if not localnova_cloud.alive:
        raise LocalNovaError("the session localnova cloud died; log tail:\n" + localnova_cloud.log_tail())
    localnova_cloud.reset_config()
    localnova_cloud.reset_stats()
    return localnova_cloud

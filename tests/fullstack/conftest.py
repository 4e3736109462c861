"""One Watcher service stack (``scripts/watcher-stack``'s) for the whole full-stack session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fullstack.operator import Operator
from tests.fullstack.stack import RABBITMQ_SBIN, StackOptions, WatcherServiceStack

#: Hosts of the stack's Nova.
HOSTS = ("host1", "host2", "host3")


@pytest.fixture(scope="session")
def watcher_stack() -> Iterator[WatcherServiceStack]:
    if not (RABBITMQ_SBIN / "rabbitmq-server").exists():
        pytest.skip("rabbitmq-server is not installed (scripts/bootstrap installs it as root)")
    stack = WatcherServiceStack(StackOptions(hosts=HOSTS, servers=0, live_migration_seconds=1.0))
    stack.start()
    yield stack
    stack.stop()


@pytest.fixture(scope="session")
def operator(watcher_stack: WatcherServiceStack) -> Operator:
    return Operator(watcher_stack)

"""The whole Watcher service stack on Temporal, driven only through ``openstack optimize ...``.

One stack per session (``conftest.watcher_stack``): RabbitMQ, PostgreSQL, the
Temporal dev server, localnova behind keystone, watcher-api, the decision
engine, a ``watcher-temporal-worker`` and ``watcher-temporal-applier``.
Watcher is reached only through its client; Nova (booting servers, knobs,
where a server is) through openstacksdk and localnova's control API.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from tests.fullstack.operator import Operator, updated_at
from tests.fullstack.stack import WatcherServiceStack

pytestmark = pytest.mark.integration

#: The cancel test's bound (issue: CANCELLED within 5 s of the cancel).
CANCEL_SECONDS = 5.0


def boot(stack: WatcherServiceStack, host: str, count: int = 1) -> list[str]:
    return list(stack.nova.boot_servers(count, hosts=[host], name_prefix=f"fs-{host}"))


def host_of(stack: WatcherServiceStack, server_id: str) -> str:
    return str(stack.nova.conn.compute.get_server(server_id).compute_host)


def migrations_of(stack: WatcherServiceStack, server_id: str) -> list[Any]:
    return list(stack.nova.conn.compute.migrations(instance_uuid=server_id))


def migrate(server_id: str, source: str, destination: str) -> dict[str, Any]:
    return {
        "action_type": "migrate",
        "resource_id": server_id,
        "input_parameters": {"migration_type": "live", "source_node": source, "destination_node": destination},
    }


def by_type(actions: list[dict[str, Any]]) -> Counter[tuple[str, str]]:
    return Counter((a["Action"], a["State"]) for a in actions)


@pytest.fixture
def nova_reset(watcher_stack: WatcherServiceStack) -> Iterator[None]:
    """Knobs back to their start values and every nova-compute enabled after the test."""
    yield
    stack = watcher_stack
    stack.nova.reset_config()
    for service in stack.nova.conn.compute.services(binary="nova-compute"):
        if service.status != "enabled":
            stack.nova.conn.compute.enable_service(service, service.host, service.binary)


def test_audit_templates_list_through_keystone(watcher_stack: WatcherServiceStack) -> None:
    """The exported environment reaches watcher-api through keystone's catalog; a bad password does not."""
    assert watcher_stack.openstack("optimize", "audittemplate", "list", "-f", "json").stdout.strip() == "[]"
    services = watcher_stack.openstack("catalog", "list", "-f", "json").stdout
    assert "infra-optim" in services and "placement" in services
    wrong = watcher_stack.openstack("--os-password", "wrong", "optimize", "audittemplate", "list", check=False)
    assert wrong.returncode != 0 and "401" in wrong.stderr


def test_dummy(operator: Operator) -> None:
    plan = operator.plan_for(goal="dummy", strategy="dummy")
    operator.start(plan)
    assert operator.wait_plan(plan)["State"] == "SUCCEEDED"
    assert by_type(operator.actions(plan)) == {("nop", "SUCCEEDED"): 2, ("sleep", "SUCCEEDED"): 1}


def test_dummy_with_resize(operator: Operator) -> None:
    """Its migrate/resize actions name servers that do not exist: SKIPPED, as Watcher's taskflow does."""
    plan = operator.plan_for(goal="dummy", strategy="dummy_with_resize")
    operator.start(plan)
    final = operator.wait_plan(plan)
    assert final["State"] == "SUCCEEDED"
    assert by_type(operator.actions(plan)) == {
        ("nop", "SUCCEEDED"): 2,
        ("sleep", "SUCCEEDED"): 1,
        ("migrate", "SKIPPED"): 2,
        ("resize", "SKIPPED"): 1,
    }


def test_host_maintenance_moves_every_server(
    watcher_stack: WatcherServiceStack, operator: Operator, nova_reset: None
) -> None:
    """The decision engine builds the plan from Nova and placement; the plan empties host1 on Temporal."""
    servers = boot(watcher_stack, "host1", 2)
    operator.wait_model(dict.fromkeys(servers, "host1"))
    plan = operator.plan_for(
        goal="cluster_maintaining", strategy="host_maintenance", parameters={"maintenance_node": "host1"}
    )
    kinds = Counter(a["Action"] for a in operator.actions(plan))
    assert kinds["migrate"] == 2 and kinds["change_nova_service_state"] == 1
    operator.start(plan)
    final = operator.wait_plan(plan)
    assert final["State"] == "SUCCEEDED", final
    assert all(a["State"] == "SUCCEEDED" for a in operator.actions(plan))
    for sid in servers:
        assert host_of(watcher_stack, sid) != "host1"
        assert len(migrations_of(watcher_stack, sid)) == 1
    [service] = watcher_stack.nova.conn.compute.services(binary="nova-compute", host="host1")
    assert service.status == "disabled"


def test_actuator_migrate_service_state_nop_sleep(
    watcher_stack: WatcherServiceStack, operator: Operator, nova_reset: None
) -> None:
    [sid] = boot(watcher_stack, "host2")
    plan = operator.actuator_plan(
        [
            {
                # Watcher's class reads the host from resource_name (resource_id alone: "service None
                # not found", SKIPPED, as taskflow does too).
                "action_type": "change_nova_service_state",
                "resource_id": "host3",
                "input_parameters": {
                    "resource_name": "host3",
                    "state": "disabled",
                    "disabled_reason": "full-stack test",
                },
            },
            {"action_type": "nop", "input_parameters": {"message": "full-stack"}},
            {"action_type": "sleep", "input_parameters": {"duration": 1}},
            migrate(sid, "host2", "host1"),
        ]
    )
    operator.start(plan)
    final = operator.wait_plan(plan)
    actions = operator.actions(plan)
    assert final["State"] == "SUCCEEDED", [(a["Action"], a["State"], a["Status Message"]) for a in actions]
    assert by_type(actions) == {
        ("change_nova_service_state", "SUCCEEDED"): 1,
        ("nop", "SUCCEEDED"): 1,
        ("sleep", "SUCCEEDED"): 1,
        ("migrate", "SUCCEEDED"): 1,
    }, [(a["Action"], a["State"], a["Status Message"]) for a in actions]
    assert host_of(watcher_stack, sid) == "host1"
    [service] = watcher_stack.nova.conn.compute.services(binary="nova-compute", host="host3")
    assert service.status == "disabled"


def test_cancel_during_live_migration(watcher_stack: WatcherServiceStack, operator: Operator, nova_reset: None) -> None:
    """``actionplan cancel`` while Nova copies memory: CANCELLED within 5 s, server back on its source."""
    stack = watcher_stack
    [sid] = boot(stack, "host2")
    stack.nova.configure(live_migration_stall_servers=[sid])  # the copy holds until aborted
    plan = operator.actuator_plan([migrate(sid, "host2", "host3")])
    operator.start(plan)
    Operator.wait(
        lambda: [m.status for m in migrations_of(stack, sid)], lambda states: "running" in states, timeout=120
    )
    operator.cancel(plan)
    cancel_returned = time.time()
    final = operator.wait_plan(plan, timeout=60)
    assert final["State"] == "CANCELLED", final
    assert updated_at(final) - cancel_returned <= CANCEL_SECONDS
    [migration] = migrations_of(stack, sid)
    assert migration.status == "cancelled"
    assert stack.nova.wait_server(sid, "ACTIVE").compute_host == "host2"
    [action] = operator.actions(plan)
    assert action["State"] == "CANCELLED"


def test_failing_migration_reason_in_action_show(
    watcher_stack: WatcherServiceStack, operator: Operator, nova_reset: None
) -> None:
    stack = watcher_stack
    [sid] = boot(stack, "host2")
    stack.nova.configure(live_migration_fail_hosts=["host3"])
    plan = operator.actuator_plan([migrate(sid, "host2", "host3")])
    operator.start(plan)
    assert operator.wait_plan(plan)["State"] == "FAILED"
    [listed] = operator.actions(plan)
    action = operator.action(listed["UUID"])
    assert action["State"] == "FAILED"
    assert action["Status Message"], action
    assert "error" in action["Status Message"].lower() or "fail" in action["Status Message"].lower(), action
    assert host_of(stack, sid) == "host2"


def test_applier_killed_and_restarted_mid_plan(
    watcher_stack: WatcherServiceStack, operator: Operator, nova_reset: None
) -> None:
    """SIGKILL of watcher-temporal-applier while Nova migrates: the restarted one re-attaches; one migration each."""
    stack = watcher_stack
    servers = boot(stack, "host2", 2)
    stack.nova.configure(live_migration_seconds=6.0)
    plan = operator.actuator_plan([migrate(sid, "host2", "host3") for sid in servers])
    operator.start(plan)
    Operator.wait(
        lambda: [m.status for sid in servers for m in migrations_of(stack, sid)],
        lambda states: "running" in states,
        timeout=120,
    )
    stack.kill("applier")
    stack.start_applier()
    final = operator.wait_plan(plan, timeout=240)
    assert final["State"] == "SUCCEEDED", final
    for sid in servers:
        assert [m.status for m in migrations_of(stack, sid)] == ["completed"]
        assert host_of(stack, sid) == "host3"

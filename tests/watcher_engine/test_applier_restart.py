"""``watcher-temporal-applier`` restarted into a world that changed while it was down.

A first applier (its own process) starts a plan and is SIGKILLed mid-migration;
then the shipped ``watcher-temporal-applier`` command starts as a service
(Watcher's own start-up, with the re-attaching sync):

* the plan was cancelled through Watcher's API meanwhile (row CANCELLING):
  it must end CANCELLED soon after the restart, the running migration aborted;
* Temporal cannot be reached when it starts: it must stay up (no exit, so no
  crash loop under systemd), say so in the plan's row and its log, and
  re-attach once Temporal answers again.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.testing import WorkflowEnvironment

from localnova.harness import LocalNovaHandle
from tests.conditions import until
from tests.realstack import boot_on, nova_migrations
from tests.watcher_engine.processes import TcpForwarder
from tests.watcher_engine.test_engine_applier import disable, host_of, migrate
from tests.watcher_engine.watcher_stack import WatcherStack, kill_group

pytestmark = pytest.mark.integration

#: Seconds from the restarted applier's start-up line until the cancelled plan is CANCELLED in the DB.
CANCEL_BOUND = 5.0
#: Watcher's own line once the applier service runs (before its start-up sync).
STARTING = "Starting Watcher Applier service"


async def kill_mid_migration(
    stack: WatcherStack, cloud: LocalNovaHandle, plan: str, servers: list[str], **kw: object
) -> None:
    """Start the plan in a first applier process; SIGKILL it once a live migration runs and the DB shows it."""
    first = stack.applier_process("temporal", "run", plan, **kw)  # type: ignore[arg-type]
    try:
        await until(
            lambda: (
                any(m.status == "running" for s in servers for m in nova_migrations(cloud, s))
                and stack.action_states(plan)["ONGOING"] >= 1
            ),
            timeout=90,
            what="a live migration runs and the DB shows it ONGOING",
        )
    finally:
        first.kill()  # SIGKILL: no clean-up in the applier
        first.wait(timeout=10)
    assert stack.plan(plan).state == "ONGOING"


def service_log(stack: WatcherStack) -> str:
    assert stack.last_service_log is not None
    return stack.last_service_log.read_text(errors="replace")


async def test_a_cancel_made_while_the_applier_is_down_ends_cancelled_after_its_restart(
    watcher_stack: WatcherStack, clean_cloud: LocalNovaHandle, dev_env: WorkflowEnvironment
) -> None:
    cloud = clean_cloud
    servers = [boot_on(cloud, "host1") for _ in range(3)]
    cloud.configure(live_migration_seconds=60)
    plan = watcher_stack.build_plan([disable("host1"), *(migrate(s, "host2") for s in servers)])
    await kill_mid_migration(watcher_stack, cloud, plan, servers)
    watcher_stack.cancel(plan)  # Watcher's API, while no applier runs

    spawned = datetime.now(UTC)
    second = watcher_stack.applier_service()
    try:
        await until(lambda: STARTING in service_log(watcher_stack), timeout=60, what="the applier service starts")
        started = datetime.now(UTC)
        await until(
            lambda: watcher_stack.plan(plan).state not in ("CANCELLING", "ONGOING") or second.poll() is not None,
            timeout=60,
            what="the restarted applier ends the cancelled plan",
        )
        ended = datetime.now(UTC)
        assert second.poll() is None, f"watcher-temporal-applier exited: {service_log(watcher_stack)[-2000:]}"
    finally:
        kill_group(second)

    assert watcher_stack.plan(plan).state == "CANCELLED"
    handle = dev_env.client.get_workflow_handle(f"plan-watcher-{plan}")
    history = await handle.fetch_history()
    requested = min(
        e.event_time.ToDatetime(UTC)
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED
    )
    closed = (await handle.describe()).close_time
    assert closed is not None
    print(
        f"process start → start-up line {(started - spawned).total_seconds():.1f} s; "
        f"start-up line → cancel requested {(requested - started).total_seconds():.1f} s, "
        f"→ workflow closed {(closed - started).total_seconds():.1f} s, → plan CANCELLED "
        f"{(ended - started).total_seconds():.1f} s"
    )
    # From the service's start (its start-up line, once Python and Watcher are loaded) to the plan's end:
    # asking Temporal, the worker aborting the migration in Nova and putting the server back, the rows.
    assert (requested - started).total_seconds() <= CANCEL_BOUND
    assert (ended - started).total_seconds() <= CANCEL_BOUND
    states = {a.input_parameters.get("resource_id"): a.state for a in watcher_stack.actions(plan)}
    assert states.pop("host1") == "SUCCEEDED"
    assert sorted(states.values()) == ["CANCELLED"] * 3
    await until(
        lambda: all(m.status != "running" for s in servers for m in nova_migrations(cloud, s)),
        timeout=30,
        what="no migration runs any more",
    )
    statuses = [m.status for s in servers for m in nova_migrations(cloud, s)]
    assert statuses and set(statuses) == {"cancelled"}  # every migration that ran was aborted, none completed
    assert [host_of(cloud, s) for s in servers] == ["host1"] * 3  # where the DB says: none moved


@pytest.fixture
async def temporal_link(dev_env: WorkflowEnvironment) -> AsyncIterator[TcpForwarder]:
    """The session's dev server behind a forwarder the test can cut and restore."""
    link = TcpForwarder(dev_env.client.service_client.config.target_host)
    await link.start()
    yield link
    await link.stop()


async def test_the_applier_starts_while_temporal_is_unreachable_and_reattaches_when_it_answers(
    watcher_stack: WatcherStack, clean_cloud: LocalNovaHandle, temporal_link: TcpForwarder
) -> None:
    cloud = clean_cloud
    servers = [boot_on(cloud, "host1") for _ in range(2)]
    cloud.configure(live_migration_seconds=4)
    config = watcher_stack.config_variant(address=temporal_link.address)
    plan = watcher_stack.build_plan([disable("host1"), *(migrate(s, "host2") for s in servers)])
    await kill_mid_migration(watcher_stack, cloud, plan, servers, config_file=config)
    await temporal_link.stop()  # Temporal unreachable for the applier (the workflow goes on)

    second = watcher_stack.applier_service(config)
    try:
        expected = f"cannot connect to Temporal at {temporal_link.address}"
        await until(
            lambda: expected in (watcher_stack.plan(plan).status_message or "") or second.poll() is not None,
            timeout=60,
            what="the plan's row says that Temporal cannot be reached",
        )
        assert second.poll() is None, f"watcher-temporal-applier exited: {service_log(watcher_stack)[-2000:]}"
        note = watcher_stack.plan(plan).status_message
        assert "re-attaches this plan when Temporal answers" in note and "\n" not in note
        assert watcher_stack.plan(plan).state == "ONGOING"
        await until(lambda: expected in service_log(watcher_stack), timeout=10, what="the log says it too")

        await temporal_link.start()  # Temporal is back
        await until(
            lambda: watcher_stack.plan(plan).state != "ONGOING" or second.poll() is not None,
            timeout=180,
            what="the applier re-attaches and follows the plan to its end",
        )
        assert second.poll() is None, f"watcher-temporal-applier exited: {service_log(watcher_stack)[-2000:]}"
    finally:
        kill_group(second)

    assert watcher_stack.plan(plan).state == "SUCCEEDED"
    assert watcher_stack.plan(plan).status_message is None  # the note went with the outage
    assert watcher_stack.action_states(plan) == {"SUCCEEDED": 3}
    assert [host_of(cloud, s) for s in servers] == ["host2"] * 2
    assert [len(nova_migrations(cloud, s)) for s in servers] == [1, 1]

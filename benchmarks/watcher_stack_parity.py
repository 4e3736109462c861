"""taskflow vs temporal on the whole Watcher stack, side by side, from one run.

    .venv/bin/python -m benchmarks.watcher_stack_parity [--servers 4] [--live-seconds 3]

One ``scripts/watcher-stack`` stack (RabbitMQ, PostgreSQL, Temporal, localnova
behind keystone, watcher-api, decision engine, worker); the applier is
Watcher's ``watcher-applier`` (``workflow_engine = taskflow``), then
``watcher-temporal-applier`` (``temporal``), each at the documented defaults.
Every scenario is driven through ``openstack optimize ...`` only:

* ``dummy``, ``dummy_with_resize``: the strategies' plans;
* ``host_maintenance``: the decision engine's plan for ``--servers`` servers on one host;
* ``cancel``: ``actionplan cancel`` while a 30 s live migration copies:
  seconds from the cancel's return to the plan's final ``Updated At``, where
  the server ends;
* ``failing``: a live migration to a destination where localnova fails it;
* ``restart``: the applier SIGKILLed during a live migration of 2 servers and
  started again: end state and Nova migrations per server.

Per scenario: plan state, action states, notifications about the plan and its
actions read from RabbitMQ (``notifications.info`` / ``.error`` of the
``watcher`` vhost), makespan (from the plan's first
``action_plan.execution.start`` notification to its last
``action_plan.execution.end``, both stamped by the applier). Prints a Markdown table.
Asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from tests.fullstack.operator import Operator, updated_at
from tests.fullstack.stack import StackOptions, WatcherServiceStack

HOSTS = ("host1", "host2", "host3")
#: How long the cancelled live migration would take (the cancel comes once it runs).
CANCEL_MIGRATION_SECONDS = 30.0


def drain_notifications(stack: WatcherServiceStack) -> list[dict[str, Any]]:
    """Every Watcher notification queued so far (the queues are emptied)."""
    import kombu

    url = f"amqp://watcher:{stack.rabbit_password}@127.0.0.1:{stack.ports['amqp']}/watcher"
    out: list[dict[str, Any]] = []
    with kombu.Connection(url) as conn:
        for queue_name in ("notifications.info", "notifications.error"):
            queue = kombu.Queue(queue_name, channel=conn.channel(), no_declare=True)
            try:
                while (message := queue.get(no_ack=True)) is not None:
                    body = json.loads(message.body)
                    out.append(json.loads(body["oslo.message"]) if "oslo.message" in body else body)
            except Exception:  # noqa: BLE001 - no such queue yet: nothing was sent there
                continue
    return out


class Scenarios:
    """The scenarios, for one engine."""

    def __init__(self, stack: WatcherServiceStack, servers: int, live_seconds: float) -> None:
        self.stack = stack
        self.op = Operator(stack)
        self.servers = servers
        self.live_seconds = live_seconds
        self.notes: list[dict[str, Any]] = []

    def _notes_about(self, plan: str, actions: list[dict[str, Any]]) -> list[dict[str, Any]]:
        self.notes += drain_notifications(self.stack)
        wanted = {plan, *(a["UUID"] for a in actions)}
        return [n for n in self.notes if n.get("payload", {}).get("watcher_object.data", {}).get("uuid") in wanted]

    def _run(self, plan: str, *, timeout: float = 300.0) -> dict[str, Any]:
        self.op.start(plan)
        final = self.op.wait_plan(plan, timeout=timeout)
        return self._result(plan, final)

    def _result(self, plan: str, final: dict[str, Any], **extra: Any) -> dict[str, Any]:
        actions = self.op.actions(plan)
        time.sleep(1.0)  # the last notifications of the plan reach the bus after its last DB write
        notes = self._notes_about(plan, actions)
        result = {
            "plan": final["State"],
            "actions": dict(Counter(f"{a['Action']}:{a['State']}" for a in actions)),
            "notifications": len(notes),
            **extra,
        }
        # Makespan from the plan's own notifications: first execution.start to last execution.end.
        starts = [_ts(n) for n in notes if n["event_type"] == "action_plan.execution.start"]
        ends = [_ts(n) for n in notes if n["event_type"] == "action_plan.execution.end"]
        if starts and ends:
            result["makespan"] = max(ends) - min(starts)
        return result

    def _boot(self, host: str, count: int) -> list[str]:
        return list(self.stack.nova.boot_servers(count, hosts=[host], name_prefix=f"parity-{host}"))

    def _reset(self) -> None:
        conn = self.stack.nova.conn
        self.stack.nova.reset_config()
        for service in conn.compute.services(binary="nova-compute"):
            if service.status != "enabled":
                conn.compute.enable_service(service, service.host, service.binary)
        for server in list(conn.compute.servers()):
            conn.compute.delete_server(server)
        for server in list(conn.compute.servers()):
            conn.compute.wait_for_delete(server, wait=120)

    def dummy(self, strategy: str) -> dict[str, Any]:
        return self._run(self.op.plan_for(goal="dummy", strategy=strategy))

    def host_maintenance(self) -> dict[str, Any]:
        servers = self._boot("host1", self.servers)
        self.op.wait_model(dict.fromkeys(servers, "host1"))
        plan = self.op.plan_for(
            goal="cluster_maintaining", strategy="host_maintenance", parameters={"maintenance_node": "host1"}
        )
        result = self._run(plan)
        result["servers"] = dict(Counter(self.stack.nova.conn.compute.get_server(s).compute_host for s in servers))
        self._reset()
        return result

    def cancel(self) -> dict[str, Any]:
        [sid] = self._boot("host2", 1)
        # Long but finite: taskflow does not abort a running migration and must see it end.
        self.stack.nova.configure(live_migration_seconds=CANCEL_MIGRATION_SECONDS)
        plan = self.op.actuator_plan([_migrate(sid, "host2", "host3")])
        self.op.start(plan)
        self.op.wait(lambda: [m.status for m in self._migrations(sid)], lambda s: "running" in s, timeout=120)
        self.op.cancel(plan)
        returned = time.time()
        try:
            final = self.op.wait_plan(plan, timeout=120)
            seconds: float | str = round(updated_at(final) - returned, 1)
        except TimeoutError:  # taskflow waits for the running migration, which localnova holds until aborted
            final = self.op.plan(plan)
            seconds = "> 120"
        where = self.stack.nova.conn.compute.get_server(sid).compute_host
        result = self._result(
            plan,
            final,
            cancel_seconds=seconds,
            server_on=where,
            migrations=[m.status for m in self._migrations(sid)],
        )
        self._reset()
        return result

    def failing(self) -> dict[str, Any]:
        [sid] = self._boot("host2", 1)
        self.stack.nova.configure(live_migration_fail_hosts=["host3"])
        plan = self.op.actuator_plan([_migrate(sid, "host2", "host3")])
        result = self._run(plan)
        [action] = self.op.actions(plan)
        result["reason"] = (action["Status Message"] or "")[:80]
        self._reset()
        return result

    def restart(self) -> dict[str, Any]:
        servers = self._boot("host2", 2)
        self.stack.nova.configure(live_migration_seconds=max(self.live_seconds, 6.0))
        plan = self.op.actuator_plan([_migrate(s, "host2", "host3") for s in servers])
        self.op.start(plan)
        self.op.wait(
            lambda: [m.status for s in servers for m in self._migrations(s)], lambda st: "running" in st, timeout=120
        )
        self.stack.kill("applier")
        self.stack.start_applier()
        final = self.op.wait_plan(plan, timeout=300)
        # Nova finishes what it started, whatever the applier wrote.
        time.sleep(max(self.live_seconds, 6.0) + 2)
        result = self._result(
            plan,
            final,
            servers=dict(Counter(self.stack.nova.conn.compute.get_server(s).compute_host for s in servers)),
            migrations_per_server=[len(self._migrations(s)) for s in servers],
        )
        self._reset()
        return result

    def _migrations(self, sid: str) -> list[Any]:
        return list(self.stack.nova.conn.compute.migrations(instance_uuid=sid))


def _ts(note: dict[str, Any]) -> float:
    return datetime.fromisoformat(note["timestamp"]).replace(tzinfo=UTC).timestamp()


def _migrate(sid: str, source: str, destination: str) -> dict[str, Any]:
    return {
        "action_type": "migrate",
        "resource_id": sid,
        "input_parameters": {"migration_type": "live", "source_node": source, "destination_node": destination},
    }


def run(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    table: dict[str, dict[str, Any]] = {}
    stack = WatcherServiceStack(
        StackOptions(engine="taskflow", hosts=HOSTS, servers=0, live_migration_seconds=args.live_seconds)
    )
    stack.start()
    try:
        for engine in args.engines.split(","):
            stack.switch_engine(engine)
            scenarios = Scenarios(stack, args.servers, args.live_seconds)
            for name, call in (
                ("dummy", lambda s=scenarios: s.dummy("dummy")),
                ("dummy_with_resize", lambda s=scenarios: s.dummy("dummy_with_resize")),
                ("host_maintenance", scenarios.host_maintenance),
                ("cancel", scenarios.cancel),
                ("failing", scenarios.failing),
                ("restart", scenarios.restart),
            ):
                try:
                    table.setdefault(name, {})[engine] = call()
                except Exception as err:  # noqa: BLE001 - a row says what broke
                    table.setdefault(name, {})[engine] = {"error": str(err)[:200]}
                print(f"{engine:8} {name:18} {json.dumps(table[name][engine])}", file=sys.stderr, flush=True)
    finally:
        stack.stop()
    return table


def markdown(table: dict[str, dict[str, Any]]) -> str:
    lines = ["| scenario | taskflow | temporal |", "|---|---|---|"]
    for name, row in table.items():
        cells = [_cell(row.get(engine, {})) for engine in ("taskflow", "temporal")]
        lines.append(f"| {name} | {cells[0]} | {cells[1]} |")
    return "\n".join(lines)


def _cell(result: dict[str, Any]) -> str:
    if not result:
        return "not run"
    if "error" in result:
        return f"error: {result['error']}"
    parts = [f"**{result['plan']}**", ", ".join(f"{k} {v}" for k, v in sorted(result["actions"].items()))]
    parts.append(f"{result['notifications']} notifications")
    for key in ("makespan", "cancel_seconds"):
        if key in result:
            value = result[key]
            parts.append(
                f"{key.replace('_seconds', '')} {value:.1f} s" if isinstance(value, float) else f"{key} {value}"
            )
    for key in ("servers", "server_on", "migrations", "migrations_per_server", "reason"):
        if key in result:
            parts.append(f"{key.replace('_', ' ')} {result[key]}")
    return "; ".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--servers", type=int, default=4, help="servers on the host_maintenance node")
    parser.add_argument("--live-seconds", type=float, default=3.0, help="localnova's live migration duration")
    parser.add_argument("--engines", default="taskflow,temporal", help="engines, in order (comma separated)")
    args = parser.parse_args(argv)
    print(markdown(run(args)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

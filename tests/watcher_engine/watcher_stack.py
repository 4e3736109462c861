"""Watcher 17's real applier in this process: PostgreSQL, ``fake:/`` transport, ``test`` notifier.

What Watcher's own applier service does for a plan is
``DefaultActionPlanHandler(ctx, service, uuid).execute()``; this module sets up
just enough of Watcher (configuration file on disk, schema, objects) to call it
for real, builds plans with Watcher's own ``WeightPlanner``, and reads the
notifications the ``test`` driver keeps in memory.

Traps (see /work/shared/README.md): ``notification_level`` is registered by
``watcher.common.service``; oslo.service's threading backend must be chosen
before Watcher's modules load it; the config file stays on disk (the plugin
loader re-reads it). Watcher's DB is a fresh database on a throwaway
PostgreSQL 15 cluster (``tests.postgres``), as a real Watcher runs on
PostgreSQL or MySQL: the applier's threads, its forked processes and the test
write at once without sqlite's "database is locked".
"""

from __future__ import annotations

import atexit
import os
import signal
import subprocess
import sys
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

_READY: dict[str, Any] = {}


@dataclass
class WatcherStack:
    """Watcher's DB, config and notifier, configured once per test session."""

    config_file: Path
    database_url: str
    context: Any
    hostname: str = "applier-test"
    engine_options: dict[str, str] = field(default_factory=dict)
    last_service_log: Path | None = None

    def config_variant(self, **engine: str) -> Path:
        """A copy of the config file whose ``[watcher_workflow_engines.temporal]`` options are replaced."""
        from configparser import ConfigParser

        parser = ConfigParser(interpolation=None)
        parser.read(self.config_file)
        for name, value in engine.items():
            parser.set("watcher_workflow_engines.temporal", name, value)
        path = self.config_file.with_name(f"watcher-{uuid.uuid4().hex[:6]}.conf")
        with path.open("w") as out:
            parser.write(out)
        return path

    # -- plans ----------------------------------------------------------------

    def build_plan(self, actions: list[dict[str, Any]], *, strategy: str = "host_maintenance") -> str:
        """An action plan built by Watcher's ``WeightPlanner`` from a solution's actions; PENDING."""
        from watcher import objects
        from watcher.decision_engine.planner.weight import WeightPlanner

        strategy_obj = objects.Strategy.get_by_name(self.context, strategy)
        audit = objects.Audit(
            self.context,
            uuid=str(uuid.uuid4()),
            name=f"audit-{uuid.uuid4().hex[:6]}",
            audit_type="ONESHOT",
            state="SUCCEEDED",
            goal_id=strategy_obj.goal_id,
            strategy_id=strategy_obj.id,
            auto_trigger=False,
            hostname=self.hostname,
        )
        audit.create()
        solution = SimpleNamespace(
            strategy=SimpleNamespace(name=strategy),
            actions=[
                {"action_type": a["action_type"], "input_parameters": a.get("input_parameters", {})} for a in actions
            ],
            global_efficacy=[],
            efficacy_indicators=[],
        )
        planner = WeightPlanner(
            SimpleNamespace(weights=WeightPlanner.action_weights, parallelization=WeightPlanner.parallelization)
        )
        plan = planner.schedule(self.context, audit.id, solution)
        plan.state = objects.action_plan.State.PENDING
        plan.hostname = self.hostname
        plan.save()
        return str(plan.uuid)

    def run_plan(self, plan_uuid: str) -> None:
        """What the applier service does for a plan (blocks until it is over)."""
        from watcher.applier.action_plan.default import DefaultActionPlanHandler

        DefaultActionPlanHandler(self.context, None, plan_uuid).execute()

    def plan(self, plan_uuid: str) -> Any:
        from watcher import objects

        return objects.ActionPlan.get_by_uuid(self.context, plan_uuid)

    def actions(self, plan_uuid: str) -> list[Any]:
        from watcher import objects

        return list(objects.Action.list(self.context, filters={"action_plan_uuid": plan_uuid}, eager=True))

    def action_states(self, plan_uuid: str) -> Counter[str]:
        return Counter(a.state for a in self.actions(plan_uuid))

    def cancel(self, plan_uuid: str) -> None:
        """What ``PATCH /action_plans/<uuid> state=CANCELLING`` does to the row."""
        from watcher import objects

        plan = objects.ActionPlan.get_by_uuid(self.context, plan_uuid, eager=True)
        plan.state = objects.action_plan.State.CANCELLING
        plan.save()

    def skip_by_hand(self, action_uuid: str) -> None:
        from watcher import objects

        action = objects.Action.get_by_uuid(self.context, action_uuid, eager=True)
        action.state = objects.action.State.SKIPPED
        action.save()

    def applier_process(self, engine: str, *args: str, config_file: Path | None = None) -> subprocess.Popen[bytes]:
        """An applier in its own process (``tests.watcher_engine.applier_process``), to kill and restart.

        Its log goes to ``applier-*.log`` beside the config file.
        """
        repo = Path(__file__).resolve().parents[2]
        config = config_file or self.config_file
        log = self.config_file.with_name(f"applier-{uuid.uuid4().hex[:6]}.log")
        with log.open("wb") as stderr:  # a file, not a pipe: nobody must drain it
            return subprocess.Popen(
                [sys.executable, "-m", "tests.watcher_engine.applier_process", str(config), engine, *args],
                cwd=repo,
                env={**os.environ, "PYTHONPATH": str(repo)},
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )

    def applier_service(self, config_file: Path | None = None) -> subprocess.Popen[bytes]:
        """``watcher-temporal-applier --config-file <this config>``: the shipped command, as a service.

        It runs in its own process group; stop it with :func:`kill_group`. Its log
        is :attr:`last_service_log`.
        """
        log = self.config_file.with_name(f"applier-service-{uuid.uuid4().hex[:6]}.log")
        self.last_service_log = log
        command = Path(sys.executable).with_name("watcher-temporal-applier")
        with log.open("wb") as stderr:
            return subprocess.Popen(
                [str(command), "--config-file", str(config_file or self.config_file)],
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                start_new_session=True,  # its own group: the service forks a worker process
            )

    # -- notifications --------------------------------------------------------

    @staticmethod
    def notifications() -> list[dict[str, Any]]:
        """Every notification sent so far: ``{event_type, priority, payload}``."""
        from oslo_messaging.notify import _impl_test

        return [
            {"event_type": msg["event_type"], "priority": priority, "payload": msg["payload"]}
            for _ctx, msg, priority, _retry in _impl_test.NOTIFICATIONS
        ]

    @classmethod
    def notifications_of(cls, plan_uuid: str, actions: list[str]) -> list[dict[str, Any]]:
        """Notifications about this plan or its actions, in order."""
        wanted = {plan_uuid, *actions}
        out = []
        for note in cls.notifications():
            data = note["payload"].get("watcher_object.data", {})
            if data.get("uuid") in wanted:
                out.append(note)
        return out


def kill_group(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL a process started in its own session, and everything it forked."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)


def _write_config(
    path: Path,
    database_url: str,
    hostname: str,
    engine: dict[str, str],
    nova: dict[str, str],
    clients_auth: dict[str, str],
) -> None:
    sections = {
        # use_stderr: the service processes (watcher-temporal-applier) log to their stderr file
        "DEFAULT": {"transport_url": "fake:/", "host": hostname, "use_stderr": "true"},
        "watcher_clients_auth": clients_auth,
        "database": {"connection": database_url},
        "oslo_messaging_notifications": {"driver": "test"},
        "watcher_applier": {"workflow_engine": engine.pop("workflow_engine", "temporal")},
        "watcher_workflow_engines.temporal": engine,
        "nova": nova,
    }
    text = ""
    for name, values in sections.items():
        text += f"[{name}]\n" + "".join(f"{k} = {v}\n" for k, v in values.items()) + "\n"
    path.write_text(text)


def start_watcher(
    workdir: Path,
    *,
    engine: dict[str, str],
    nova: dict[str, str] | None = None,
    clients_auth: dict[str, str] | None = None,
    hostname: str = "applier-test",
    database_url: str | None = None,
) -> WatcherStack:
    """Configure Watcher once per process (oslo.config is global) and return the stack.

    Args:
        workdir: Where the config file goes.
        engine: ``[watcher_workflow_engines.temporal]`` (plus ``workflow_engine``).
        nova: ``[nova]`` (e.g. ``endpoint_override``, ``migration_interval``).
        clients_auth: ``[watcher_clients_auth]``: how Watcher's own action
            classes (the generic path) reach Nova.
        hostname: ``[DEFAULT] host`` (the applier's name on its plans).
        database_url: An empty PostgreSQL database (SQLAlchemy URL); by default
            a new one on a cluster this process starts (stopped at exit).
    """
    if "stack" in _READY:
        return _READY["stack"]
    from oslo_service.backend import exceptions as backend_exceptions
    from watcher.common import oslo_service_helper

    try:
        oslo_service_helper.init_oslo_service_backend()
    except backend_exceptions.BackendAlreadySelected:
        pass  # the test session's conftest chose it first
    import watcher.common.service  # noqa: F401 - registers notification_level
    from watcher import objects
    from watcher.common import config
    from watcher.common import context as watcher_context
    from watcher.db.sqlalchemy import migration
    from watcher.decision_engine import sync

    if database_url is None:
        database_url = _own_cluster().create_database()
    config_file = workdir / "watcher.conf"
    _write_config(config_file, database_url, hostname, dict(engine), dict(nova or {}), dict(clients_auth or {}))
    config.parse_args(["watcher-applier", "--config-file", str(config_file)])
    migration.create_schema()
    objects.register_all()
    sync.Syncer().sync()  # goals and strategies, from Watcher's own plugins
    context = watcher_context.make_context(is_admin=True)
    stack = WatcherStack(config_file=config_file, database_url=database_url, context=context, hostname=hostname)
    _READY["stack"] = stack
    return stack


def _own_cluster() -> Any:
    """A PostgreSQL cluster for callers that bring none (benchmarks): started once, stopped at exit."""
    if "cluster" not in _READY:
        from tests.postgres import start_cluster

        cluster = start_cluster()
        atexit.register(cluster.stop)
        _READY["cluster"] = cluster
    return _READY["cluster"]


def load_watcher(config_file: Path) -> Any:
    """In another process (an applier): parse the same config file; return an admin context."""
    from watcher.common import oslo_service_helper

    oslo_service_helper.init_oslo_service_backend()
    import watcher.common.service  # noqa: F401 - registers notification_level
    from watcher import objects
    from watcher.common import config
    from watcher.common import context as watcher_context

    config.parse_args(["watcher-applier", "--config-file", str(config_file)])
    objects.register_all()
    return watcher_context.make_context(is_admin=True)

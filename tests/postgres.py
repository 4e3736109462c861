"""A throwaway PostgreSQL 15 cluster for tests and benchmarks (Watcher's database).

``initdb`` in a fresh temp dir, the server on a free port bound to 127.0.0.1
(password auth over TCP) with its Unix socket in that dir (trust: only the
dir's owner reaches it), one database per :meth:`PostgresCluster.create_database`.
``initdb`` and ``postgres`` refuse to run as root: as root the cluster runs as
the ``postgres`` user (``nobody`` where it does not exist). Children get no
``PG*`` variable of the shell. :meth:`PostgresCluster.stop` (``pg_ctl stop -m
fast``) ends it and removes the dir. Not part of the product wheel.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

#: Where Debian puts the PostgreSQL 15 server tools (tried before PATH).
POSTGRES_BIN_DIRS = (Path("/usr/lib/postgresql/15/bin"),)
#: The unprivileged users a root test process runs the cluster as, first found wins.
UNPRIVILEGED_USERS = ("postgres", "nobody")
SUPERUSER = "watcher"


class PostgresError(RuntimeError):
    """The cluster did not start or a database could not be made (the message holds the tool's output)."""


def postgres_tool(name: str) -> str:
    """Path of a PostgreSQL server tool (``initdb``, ``pg_ctl``, ...)."""
    for directory in POSTGRES_BIN_DIRS:
        if (directory / name).exists():
            return str(directory / name)
    found = shutil.which(name)
    if found is None:
        raise PostgresError(f"PostgreSQL's {name} not found (install postgresql-15)")
    return found


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _unprivileged_user() -> pwd.struct_passwd | None:
    """The user to run the cluster as, or None when this process is not root."""
    if os.geteuid() != 0:
        return None
    for name in UNPRIVILEGED_USERS:
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise PostgresError(f"running as root and none of the users {UNPRIVILEGED_USERS} exists")


@dataclass
class PostgresCluster:
    """One running cluster: its dir (data, socket, log), port and superuser password."""

    root: Path
    port: int
    password: str = field(repr=False)
    user: pwd.struct_passwd | None = None

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def log_file(self) -> Path:
        return self.root / "postgres.log"

    def url(self, database: str) -> str:
        """SQLAlchemy URL of ``database`` over the cluster's Unix socket."""
        return f"postgresql+psycopg2://{SUPERUSER}@/{database}?host={self.root}&port={self.port}"

    def create_database(self, prefix: str = "watcher") -> str:
        """``CREATE DATABASE`` with a fresh name; returns its SQLAlchemy URL."""
        import psycopg2

        name = f"{prefix}_{secrets.token_hex(4)}"
        connection = psycopg2.connect(dbname="postgres", user=SUPERUSER, host=str(self.root), port=self.port)
        try:
            connection.autocommit = True  # CREATE DATABASE cannot run in a transaction
            with connection.cursor() as cursor:
                cursor.execute(f'CREATE DATABASE "{name}"')
        finally:
            connection.close()
        return self.url(name)

    def _run(self, *command: str, timeout: float) -> subprocess.CompletedProcess[str]:
        user = self.user
        return subprocess.run(
            list(command),
            env=_child_env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            user=None if user is None else user.pw_uid,
            group=None if user is None else user.pw_gid,
            extra_groups=None if user is None else [],
        )

    def start(self) -> None:
        """``pg_ctl start -w``: returns once the server accepts connections."""
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c max_connections=300"
            " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        done = self._run(
            postgres_tool("pg_ctl"),
            *("-D", str(self.data_dir), "-l", str(self.log_file), "-o", options, "-w", "-t", "120", "start"),
            timeout=150,
        )
        if done.returncode != 0:
            log = self.log_file.read_text(errors="replace")[-2000:] if self.log_file.exists() else ""
            raise PostgresError(f"pg_ctl start failed on port {self.port}: {done.stdout}{done.stderr}{log}")

    def stop(self) -> None:
        """``pg_ctl stop -m fast`` (ends every client's session), then remove the dir."""
        try:
            if (self.data_dir / "postmaster.pid").exists():
                self._run(postgres_tool("pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w", "stop", timeout=120)
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


def _child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["LC_ALL"] = "C.UTF-8"
    return env


def start_cluster(*, attempts: int = 3) -> PostgresCluster:
    """``initdb`` a new cluster in a temp dir and start it on a free port (retried if the port was taken)."""
    user = _unprivileged_user()
    root = Path(tempfile.mkdtemp(prefix="watcher-temporal-pg-"))
    cluster = PostgresCluster(root=root, port=0, password=secrets.token_urlsafe(16), user=user)
    try:
        if user is not None:
            os.chown(root, user.pw_uid, user.pw_gid)
        password_file = root / "password"
        password_file.write_text(cluster.password + "\n")
        if user is not None:
            os.chown(password_file, user.pw_uid, user.pw_gid)
        done = cluster._run(
            postgres_tool("initdb"),
            *("-D", str(cluster.data_dir), "-U", SUPERUSER, f"--pwfile={password_file}", "-E", "UTF8"),
            *("--auth-local=trust", "--auth-host=scram-sha-256", "--no-sync", "--no-instructions"),
            timeout=180,
        )
        password_file.unlink()
        if done.returncode != 0:
            raise PostgresError(f"initdb failed: {done.stdout}{done.stderr}")
        for attempt in range(attempts):
            cluster.port = _free_port()
            try:
                cluster.start()
                return cluster
            except PostgresError:
                if attempt == attempts - 1:
                    raise
    except BaseException:
        cluster.stop()
        raise
    raise AssertionError("unreachable")


@contextlib.contextmanager
def running_cluster() -> Iterator[PostgresCluster]:
    """A cluster for the duration of the block, stopped afterwards."""
    cluster = start_cluster()
    try:
        yield cluster
    finally:
        cluster.stop()

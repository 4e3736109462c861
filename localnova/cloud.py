# ruff: noqa: I001  (import order is semantic: env vars, then Nova monkey patching)
"""Build a real Nova 34 stack in this process from Nova's functional tests.

Nova's wheel ships its functional-test machinery (``nova.tests``): sqlite API
and cell databases, a placement fixture, Neutron/Glance/Cinder fakes, the
``fake://`` oslo.messaging transport and helpers to start conductor,
scheduler and compute services.  :class:`LocalCloud` drives one of those test
cases (``ProviderUsageBaseTestCase``) *outside* a test runner: it calls
``setUp()`` once, serves the Compute API on a TCP socket and runs the
cleanups on :meth:`LocalCloud.stop`.

Import order matters: this module must be imported before anything else
imports eventlet or Nova, because importing ``nova.tests.functional``
decides between eventlet monkey patching and native threads.
"""

from __future__ import annotations

import os
import sys

# Eventlet mode: measured about twice as fast and leaner than native threads
# with 30 concurrent servers, and it avoids the cell-targeting lock deadlock
# the native-thread mode shows under ~10 concurrent boots.  Must be set
# before nova.tests.functional is imported (it monkey patches on import).
os.environ.setdefault("OS_NOVA_DISABLE_EVENTLET_PATCHING", "0")
# oslotest reads these at setUp: a test timeout would SIGALRM a long-lived
# server, and output capture would swallow our READY line.
for _var in ("OS_TEST_TIMEOUT", "OS_STDOUT_CAPTURE", "OS_STDERR_CAPTURE", "OS_LOG_CAPTURE", "OS_DEBUG"):
    os.environ.pop(_var, None)

import nova.tests.functional  # noqa: E402,F401  (monkey patches)

import copy  # noqa: E402
import logging  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import urllib.parse  # noqa: E402
import warnings  # noqa: E402
from collections.abc import Iterable  # noqa: E402
from typing import Any  # noqa: E402

import eventlet  # noqa: E402
import futurist._thread  # noqa: E402
import wsgi_intercept  # noqa: E402

from nova.tests import fixtures as nova_fixtures  # noqa: E402
from nova.tests.functional import integrated_helpers  # noqa: E402

import localnova  # noqa: E402
from localnova import auth, control, dblock, driver, executors, httpserver, identity, knobs, lazy_allocations  # noqa: E402

# Nova loads drivers only as ``nova.virt.<compute_driver>``; alias our
# package there so ``compute_driver=localnova.driver.LocalNovaDriver`` works.
sys.modules.setdefault("nova.virt.localnova", localnova)
sys.modules.setdefault("nova.virt.localnova.driver", driver)

LOG = logging.getLogger("localnova")

#: Image the Glance fixture always provides (cirros-like, 1 GB min disk 0).
DEFAULT_IMAGE = "155d900f-4e14-4e4c-a73d-069cbf4541e6"
#: m1.tiny from the default flavors fixture (512 MB, 1 GB disk, 1 vCPU).
DEFAULT_FLAVOR = "1"
#: Highest microversion Nova 34 serves; used by in-process helpers.
MICROVERSION = "latest"


class _StackCase(integrated_helpers.ProviderUsageBaseTestCase):
    """The functional test case whose ``setUp`` builds the stack.

    ``ProviderUsageBaseTestCase`` starts placement, the Neutron/Glance/
    Cinder fakes, the Compute API fixture, conductor and scheduler, and
    -- unlike ``_IntegratedTestBase`` -- does *not* turn RPC casts into
    calls, so long-running migrations do not block the API request.
    """

    compute_driver = "localnova.driver.LocalNovaDriver"
    #: Filled by LocalCloud before setUp: extra config applied right after
    #: Nova's ConfFixture (which resets config) and before the API loads.
    extra_flags: dict[str | None, dict[str, Any]] = {}
    #: Set by LocalCloud in keystone mode: keep the real keystonemiddleware
    #: and NovaKeystoneContext in the API pipeline (no stub, no X-Auth-User
    #: shim).
    real_keystone: bool = False

    def runTest(self) -> None:  # testtools needs a test method to exist
        """Never run; the case only serves its fixtures."""

    def useFixture(self, fixture: Any) -> Any:
        """Hook fixture set-up to patch the traps the test base sets."""
        if isinstance(fixture, nova_fixtures.OSAPIFixture) and self.real_keystone:
            # ProviderUsageBaseTestCase builds it with the default
            # stub_keystone=True, which replaces auth_token by a
            # pass-through and trusts X-Auth-User/X-Roles headers.
            fixture.stub_keystone = False
        result = super().useFixture(fixture)
        if isinstance(fixture, nova_fixtures.ConfFixture):
            if self.real_keystone:
                _register_authtoken_plugin_options()
            _register_messaging_options()
            for group, values in self.extra_flags.items():
                self.flags(group=group, **values)
        elif isinstance(fixture, nova_fixtures.WarningsFixture):
            # The fixture turns (among others) SQLAlchemy's noload()
            # deprecation warning into an error, i.e. an HTTP 500 on live
            # migration.  A server must not die of warnings.
            warnings.resetwarnings()
            warnings.simplefilter("ignore")
        elif isinstance(fixture, nova_fixtures.StandardLogging):
            # It keeps every record in memory (FakeLogger) and forces DEBUG
            # formatting on the root logger; re-done in _configure_logging.
            pass
        return result


def configure_logging(debug: bool) -> None:
    """Replace the fixture's in-memory log capture by a stderr handler.

    StandardLogging keeps all records in a StringIO forever (unbounded in a
    long-lived process) and sets the root logger to DEBUG so that every
    debug message is formatted.  Both are undone here.
    """
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s [%(name)s] %(message)s"))
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if debug else logging.WARNING)
    # Our own short progress lines stay visible at INFO.
    LOG.setLevel(logging.DEBUG if debug else logging.INFO)
    for noisy in ("stevedore", "oslo_policy", "keystoneauth", "urllib3", "wsgi_intercept", "placement"):
        if not debug:
            logging.getLogger(noisy).setLevel(logging.ERROR)


def _register_authtoken_plugin_options() -> None:
    """Register the ``[keystone_authtoken]`` options of the password plugin.

    keystonemiddleware registers them only when the API pipeline loads;
    they must exist to be overridden before that.  Same definitions as its
    own registration (which is then a no-op); ``auth_url`` is ``required``,
    so this must happen after Nova's ConfFixture parsed the config.
    """
    from keystoneauth1 import loading
    from oslo_config import cfg

    cfg.CONF.register_opts(loading.get_auth_plugin_conf_options("password"), group="keystone_authtoken")


def _register_messaging_options() -> None:
    """Register oslo.messaging's ``[DEFAULT]`` options (RPC timeout, executor
    pool size) so they can be set before the fake transport registers them."""
    from oslo_config import cfg
    from oslo_messaging import opts

    for group, options in opts.list_opts():
        if group is None:
            cfg.CONF.register_opts(options)


def _discard_notification(*_args: Any, **_kwargs: Any) -> None:
    """Drop a notification (replaces the fixtures' recording notifiers)."""


class LocalCloud:
    """A running in-process Nova cloud.

    Args:
        hosts: Compute host names, one nova-compute service each.
        port: TCP port for the Compute API (0 = pick a free one).
        token: Admin token accepted by the auth shim; ``None`` accepts
            unauthenticated requests (``auth_type: none``).  Ignored with
            ``keystone``.
        initial_knobs: Start-up values of the behaviour knobs.
        debug: Log Nova at DEBUG instead of WARNING.
        keystone: Real keystone mode: Nova's API pipeline keeps
            keystonemiddleware's ``auth_token`` (configured with this
            service user) and no auth shim.
        sock: A bound, listening socket to serve on (``port`` is then
            ignored); lets the caller know the endpoint before start.
    """

    def __init__(
        self,
        hosts: Iterable[str],
        port: int = 0,
        token: str | None = None,
        initial_knobs: dict[str, Any] | None = None,
        debug: bool = False,
        keystone: identity.KeystoneAuth | None = None,
        sock: Any = None,
    ) -> None:
        self.hosts = list(hosts)
        if not self.hosts:
            raise ValueError("at least one compute host is needed")
        self.port = port
        self.token = token
        self.debug = debug
        self.initial_knobs = dict(initial_knobs or {})
        self.keystone = keystone
        self.sock = sock
        self.case: _StackCase | None = None
        self.server: httpserver.HTTPServer | None = None
        self.tmpdir: str | None = None

    # -- lifecycle ----------------------------------------------------------

    def start(self) -> None:
        """Build the stack, start the computes and serve the API."""
        knobs.STORE.set_initial(self.initial_knobs)
        self.tmpdir = tempfile.mkdtemp(prefix="localnova-")
        # oslo.concurrency external locks and anything Nova writes to the
        # state path go into our temp dir, removed on stop.
        os.environ["OSLO_LOCK_PATH"] = self.tmpdir

        # In-memory sqlite shares one connection between green threads:
        # serialise transactions (see localnova.dblock) or concurrent
        # migrations corrupt placement allocations.
        dblock.install()
        # One placement GET per consumer on every claim, result unused
        # (see localnova.lazy_allocations).
        lazy_allocations.install()
        # max_concurrent_live_migrations is per compute host, as in Nova.
        executors.install()
        executors.EXECUTORS(knobs.STORE.get())
        _StackCase.extra_flags = self._flags()
        _StackCase.real_keystone = self.keystone is not None
        case = _StackCase()
        self.case = case
        configure_logging(self.debug)
        case.setUp()
        # setUp re-installed the fixture logging; replace it again.
        configure_logging(self.debug)
        # The test base sets futurist's idle timeout to 10 ms ("speed up
        # functional tests"): hundreds of idle pool workers would then spin
        # a core.  Restore futurist's default.
        futurist._thread.ThreadWorker.MAX_IDLE_FOR = 1.0  # type: ignore[assignment]  # int-annotated, float default
        # The notification fixture appends every notification to in-memory
        # lists forever (tests assert on them); a long-lived server must not.
        for notifier in (case.notifier.fake_notifier, case.notifier.fake_versioned_notifier):
            notifier._notify = _discard_notification
        for host in self.hosts:
            case._start_compute(host)
        # max_concurrent_live_migrations resizes the per-host executors at runtime.
        knobs.STORE.add_listener(executors.EXECUTORS)

        app = case.api_fixture.app()
        # Keystone mode: keystonemiddleware in the pipeline authenticates.
        compute_app = app if self.keystone is not None else auth.AuthShim(app, self.token)
        control_app = control.ControlApp(info=self.info)
        dispatcher = control.Dispatcher(compute_app, control_app, placement_app=self._placement_app())
        self.server = httpserver.HTTPServer(dispatcher, port=self.port, sock=self.sock)
        self.sock = None  # owned by the server now

    def _placement_app(self) -> Any:
        """Placement of the fixture (reached in-process through wsgi-intercept), for HTTP clients.

        In keystone mode the fixture's ``noauth2`` placement sits behind
        keystonemiddleware (the same ``[keystone_authtoken]`` as Nova's API)
        and only tokens with the admin role reach it.
        """
        assert self.case is not None
        url = urllib.parse.urlsplit(self.case.placement.fixture.endpoint)
        make_app, _script_name = wsgi_intercept._wsgi_intercept[(url.hostname, url.port or 80)]
        if self.keystone is not None:
            from keystonemiddleware import auth_token

            return auth_token.AuthProtocol(auth.PlacementShim(make_app(), None, require_admin_role=True), {})
        return auth.PlacementShim(make_app(), self.token)

    @property
    def placement_endpoint(self) -> str | None:
        """Placement URL (``.../placement``; in keystone's catalog in keystone mode)."""
        assert self.server is not None
        return f"{self.server.url}{auth.PLACEMENT_PREFIX}"

    def _flags(self) -> dict[str | None, dict[str, Any]]:
        """Config applied on top of Nova's test ConfFixture."""
        paste = os.path.join(sys.prefix, "etc", "nova", "api-paste.ini")
        if not os.path.exists(paste):
            # Fall back to the copy next to the Nova package, if any.
            import nova

            alt = os.path.join(os.path.dirname(nova.__file__), "..", "..", "..", "..", "etc", "nova", "api-paste.ini")
            paste = os.path.abspath(alt) if os.path.exists(alt) else paste
        live_migration_workers = executors.live_migration_workers(knobs.STORE.get().max_concurrent_live_migrations)
        return {
            None: {
                # Per compute host (localnova.executors gives each host its
                # own live-migration executor of this size).
                "max_concurrent_live_migrations": live_migration_workers,
                "max_concurrent_builds": 200,
                "max_concurrent_snapshots": 20,
                # Heartbeats every 10 s; generous down time so a busy
                # process is never seen as "compute down" by the scheduler.
                "service_down_time": 180,
                # Synchronous RPC calls (API -> conductor for a cold
                # migration, conductor -> compute pre-checks) queue behind
                # hundreds of others at 1,000 concurrent migrations; the
                # default 60 s would turn load into MessagingTimeout (500).
                "rpc_response_timeout": 600,
                # RPC server green threads per service (oslo.messaging
                # default 64): a cold migration holds one on its source for
                # cold_migration_seconds.
                "executor_thread_pool_size": 1000,
                "state_path": self.tmpdir,
            },
            "wsgi": {"api_paste_config": paste},
            # The ConfFixture sets "error": GET /servers/{id}/migrations
            # then fails with 400 on disk_processed_bytes 0.  Production
            # default is "warn".
            "api": {"response_validation": "warn"},
            # Default quotas (10 instances) are far too small.
            "quota": {"instances": -1, "cores": -1, "ram": -1, "server_groups": -1, "server_group_members": -1},
            "oslo_concurrency": {"lock_path": self.tmpdir},
            **(
                {
                    "keystone_authtoken": {
                        **self.keystone.authtoken_options(),
                        **self.keystone.authtoken_plugin_options(),
                    }
                }
                if self.keystone is not None
                else {}
            ),
        }

    def stop(self) -> None:
        """Stop serving and tear every fixture down; remove the temp dir."""
        knobs.STORE.remove_listener(executors.EXECUTORS)
        executors.EXECUTORS.shutdown()
        if self.server is not None:
            self.server.stop()
            self.server = None
        if self.sock is not None:  # start() failed before serving
            self.sock.close()
            self.sock = None
        case, self.case = self.case, None
        if case is not None:
            self._run_cleanups(case)
        if self.tmpdir:
            shutil.rmtree(self.tmpdir, ignore_errors=True)
            self.tmpdir = None

    @staticmethod
    def _run_cleanups(case: _StackCase) -> None:
        """Run the test case's cleanups in LIFO order, logging failures."""
        cleanups = getattr(case, "_cleanups", [])
        with eventlet.Timeout(30, False):
            while cleanups:
                func, args, kwargs = cleanups.pop()
                try:
                    func(*args, **kwargs)
                except Exception as exc:  # noqa: BLE001 - keep tearing down
                    LOG.debug("cleanup %r failed: %s", func, exc)

    # -- helpers ------------------------------------------------------------

    @property
    def endpoint(self) -> str:
        """Compute endpoint URL, e.g. ``http://127.0.0.1:8774/v2.1``."""
        assert self.server is not None
        return f"{self.server.url}/v2.1"

    def info(self) -> dict[str, Any]:
        """Facts for ``/localnova/health``."""
        if self.keystone is not None:
            auth_info = {"auth": "keystone", "auth_url": self.keystone.auth_url}
        else:
            auth_info = {"auth": "token" if self.token is not None else "none"}
        return {"hosts": self.hosts, "endpoint": self.endpoint if self.server else None, **auth_info}

    def admin_session(self) -> Any:
        """keystoneauth Session of keystone's admin user (keystone mode)."""
        assert self.keystone is not None
        from keystoneauth1 import session
        from keystoneauth1.identity import v3

        return session.Session(auth=v3.Password(**self.keystone.admin_credentials()))

    def check_keystone_path(self) -> None:
        """Password login, catalog lookup and one authenticated API call.

        Raises:
            RuntimeError: If any step fails (so READY is never printed for a
                half-working cloud).
        """
        sess = self.admin_session()
        url = sess.get_endpoint(service_type="compute", interface="public", region_name=identity.REGION)
        if url.rstrip("/") != self.endpoint:
            raise RuntimeError(f"catalog has compute endpoint {url!r}, expected {self.endpoint!r}")
        resp = sess.get(f"{self.endpoint}/servers", raise_exc=False)
        if resp.status_code != 200:
            raise RuntimeError(f"GET /servers with a keystone token: HTTP {resp.status_code}: {resp.text[:300]}")

    def _admin_api(self) -> Any:
        """The fixture's in-process admin client, authenticated for real
        (an X-Auth-Token from keystone) in keystone mode."""
        assert self.case is not None
        api = self.case.api_fixture.admin_api
        if self.keystone is None:
            return api
        sess = self.admin_session()
        api = copy.copy(api)
        plain_request = api.request

        def request(url: str, method: str = "GET", body: Any = None, headers: dict | None = None) -> Any:
            headers = dict(headers or {}, **{"X-Auth-Token": sess.get_token()})
            return plain_request(url, method=method, body=body, headers=headers)

        api.request = request
        return api

    def boot_servers(self, count: int, name_prefix: str = "localnova", timeout: float = 120.0) -> list[str]:
        """Boot servers spread round-robin over the hosts; wait ACTIVE.

        Uses the in-process admin client of the API fixture (no HTTP hop).

        Returns:
            The server ids in boot order.

        Raises:
            RuntimeError: If a server goes to ERROR or the timeout expires.
        """
        api = self._admin_api()
        api.microversion = MICROVERSION
        ids = []
        for i in range(count):
            host = self.hosts[i % len(self.hosts)]
            server = api.post_server(
                {
                    "server": {
                        "name": f"{name_prefix}-{i + 1}",
                        "imageRef": DEFAULT_IMAGE,
                        "flavorRef": DEFAULT_FLAVOR,
                        "networks": "none",
                        "availability_zone": f"nova:{host}",
                    }
                }
            )
            ids.append(server["id"])
        deadline = time.monotonic() + timeout
        pending = set(ids)
        while pending:
            for sid in list(pending):
                status = api.get_server(sid)["status"]
                if status == "ACTIVE":
                    pending.discard(sid)
                elif status == "ERROR":
                    raise RuntimeError(f"server {sid} went to ERROR")
            if pending:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"servers not ACTIVE after {timeout}s: {pending}")
                eventlet.sleep(0.1)
        return ids


__all__ = ["DEFAULT_FLAVOR", "DEFAULT_IMAGE", "LocalCloud"]

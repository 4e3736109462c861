"""Command line: ``python -m localnova up ...``.

Runs the cloud in the foreground.  stdout carries exactly one line,
``READY <endpoint>``, once the cloud is usable (everything else, including
Nova's logging, goes to stderr), so a parent process can wait for it.
SIGINT / SIGTERM stop the cloud cleanly.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import socket
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from localnova import knobs

#: Exit status when start-up fails.
EXIT_START_FAILED = 3
#: Exit status when the keystone child died while the cloud was running.
EXIT_KEYSTONE_DIED = 1
#: A stopping cloud exits after this long even if a fixture cleanup hangs.
STOP_DEADLINE_SECONDS = 45.0


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser (importing no Nova code)."""
    parser = argparse.ArgumentParser(
        prog="python -m localnova", description="Local Nova 34 Compute API for development and tests."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser(
        "up",
        help="start a cloud in the foreground",
        description="Start a cloud; print 'READY <endpoint>' on stdout when usable; stop on SIGINT/SIGTERM.",
    )
    up.add_argument(
        "--hosts",
        type=_csv,
        default=["host1", "host2", "host3"],
        help="comma separated compute host names (default: host1,host2,host3)",
    )
    up.add_argument("--port", type=int, default=8774, help="TCP port on 127.0.0.1 (0 = any free port; default 8774)")
    up.add_argument("--servers", type=int, default=0, help="servers to boot (ACTIVE, round-robin over hosts)")
    up.add_argument(
        "--clouds-yaml",
        type=Path,
        default=Path("clouds.yaml"),
        help="clouds.yaml to create or update (only the entry named --cloud-name is replaced)",
    )
    up.add_argument("--cloud-name", default="localnova", help="name of the clouds.yaml entry (default localnova)")
    up.add_argument(
        "--auth",
        choices=("token", "none"),
        default="token",
        help="token: clouds.yaml uses auth_type admin_token with a random token (default); none: auth_type none",
    )
    up.add_argument(
        "--keystone",
        action="store_true",
        help=(
            "run a real keystone (child process, sqlite) and real keystonemiddleware in Nova; "
            "clouds.yaml gets a password-auth entry (--auth is ignored)"
        ),
    )
    up.add_argument(
        "--catalog-service",
        action="append",
        default=[],
        metavar="TYPE=URL",
        help="--keystone: another service in keystone's catalog (repeatable), e.g. infra-optim=http://127.0.0.1:9322",
    )
    up.add_argument("--debug", action="store_true", help="log Nova at DEBUG (default WARNING) on stderr")
    group = up.add_argument_group("behaviour knobs (also settable at runtime: PATCH /localnova/config)")
    group.add_argument("--live-migration-seconds", type=float, default=0.0)
    group.add_argument(
        "--live-migration-mib-per-second",
        type=float,
        default=0.0,
        help="live migration copy speed; > 0 makes the duration follow the flavor size",
    )
    group.add_argument(
        "--live-migration-prepare-seconds",
        type=float,
        default=0.0,
        help="how long a live migration stays 'preparing' (to test abort there)",
    )
    group.add_argument(
        "--live-migration-stall-hosts",
        type=_csv,
        default=[],
        help="comma separated destinations where the live migration copy stalls at half",
    )
    group.add_argument(
        "--live-migration-stall-servers",
        type=_csv,
        default=[],
        help="comma separated server UUIDs whose live migration copy stalls at half",
    )
    group.add_argument("--cold-migration-seconds", type=float, default=0.0)
    group.add_argument(
        "--live-migration-fail-hosts",
        type=_csv,
        default=[],
        help="comma separated destinations where live migration fails",
    )
    group.add_argument(
        "--cold-migration-fail-hosts",
        type=_csv,
        default=[],
        help="comma separated destinations where cold migration fails",
    )
    group.add_argument(
        "--fault-500-rate", type=float, default=0.0, help="probability of HTTP 500 per Compute API request"
    )
    group.add_argument(
        "--fault-503-rate", type=float, default=0.0, help="probability of HTTP 503 per Compute API request"
    )
    group.add_argument(
        "--fault-drop-rate", type=float, default=0.0, help="probability of closing the connection without a response"
    )
    group.add_argument(
        "--fault-lost-response-rate",
        type=float,
        default=0.0,
        help="probability that Nova handles the request but the connection is closed before its response",
    )
    group.add_argument("--latency-ms", type=float, default=0.0, help="latency added to every Compute API request")
    group.add_argument("--fault-methods", type=_csv, default=[], help="HTTP methods faults apply to (default: all)")
    group.add_argument(
        "--max-concurrent-live-migrations",
        type=int,
        default=1,
        help=(
            "live migrations a compute host runs at once as their source (Nova's option, per host; "
            "default 1 as in Nova); more stay 'queued' in that compute; 0 = unlimited"
        ),
    )
    group.add_argument(
        "--link-mib-per-second",
        type=float,
        default=0.0,
        help=(
            "bandwidth mode when > 0: each host's full-duplex link (MiB/s each way), shared by its migrations; "
            "live = pre-copy of flavor RAM (+ root disk if block), cold = root + ephemeral disk; "
            "0 = simple mode (the fixed-seconds knobs; default)"
        ),
    )
    group.add_argument(
        "--dirty-mib-per-second", type=float, default=0.0, help="bandwidth mode: guest memory dirty rate"
    )
    group.add_argument(
        "--live-migration-downtime-ms",
        type=float,
        default=500.0,
        help="bandwidth mode: stop-and-copy threshold (Nova's [libvirt] live_migration_downtime, default 500)",
    )
    group.add_argument(
        "--live-migration-completion-timeout",
        type=float,
        default=800.0,
        help="bandwidth mode: seconds per GiB before a non-converging live migration is aborted (0 = never)",
    )
    return parser


def knobs_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """Extract and validate the knob flags."""
    return knobs.validate({name: getattr(args, name) for name in knobs.KNOB_NAMES})


class _StopFlag:
    """Set by SIGINT/SIGTERM; polled by the main loop."""

    def __init__(self) -> None:
        self.signum: int | None = None

    def __call__(self, signum: int, _frame: Any) -> None:
        self.signum = signum


def _start_keystone(args: argparse.Namespace) -> tuple[socket.socket, Any]:
    """Keystone mode, before Nova is imported: bind the Compute API socket
    (so its URL can go into keystone's catalog) and spawn keystone, whose
    imports and set-up then overlap with Nova's."""
    from localnova.identity import KeystoneProcess

    sock = socket.create_server(("127.0.0.1", args.port), backlog=256)
    try:
        base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        extra = [("placement", f"{base_url}/placement")]
        for item in args.catalog_service:
            service_type, sep, url = item.partition("=")
            if not sep or not service_type or not url.startswith(("http://", "https://")):
                raise ValueError(f"--catalog-service {item!r}: expected TYPE=http(s)://URL")
            extra.append((service_type, url))
        keystone = KeystoneProcess(
            f"{base_url}/v2.1",
            admin_password=secrets.token_urlsafe(24),
            service_password=secrets.token_urlsafe(24),
            debug=args.debug,
            extra_services=extra,
        )
        keystone.start()
    except BaseException:
        sock.close()
        raise
    return sock, keystone


def cmd_up(args: argparse.Namespace, ready_out: Any) -> int:
    """Run ``up``; return the exit status."""
    initial = knobs_from_args(args)
    stop = _StopFlag()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    started = time.monotonic()
    keystone = None
    sock = None
    if args.keystone:
        try:
            sock, keystone = _start_keystone(args)
        except Exception as exc:  # noqa: BLE001 - e.g. port in use
            print(f"localnova: cannot start: {exc}", file=sys.stderr)
            return EXIT_START_FAILED

    import eventlet

    from localnova import cloudsyaml
    from localnova.cloud import LOG, LocalCloud, configure_logging

    configure_logging(args.debug)  # start-up errors must reach stderr

    token = secrets.token_urlsafe(24) if args.auth == "token" and keystone is None else None
    cloud = None
    try:
        ks_auth = None
        if keystone is not None:
            keystone.wait_listening(sleep=eventlet.sleep)
            ks_auth = keystone.credentials()
        cloud = LocalCloud(
            args.hosts,
            port=args.port,
            token=token,
            initial_knobs=initial,
            debug=args.debug,
            keystone=ks_auth,
            sock=sock,
        )
        cloud.start()
        if ks_auth is not None:
            assert keystone is not None
            keystone.wait_ready(sleep=eventlet.sleep)
            # Password login, catalog, token validated by Nova's
            # keystonemiddleware: READY means the whole path works.
            cloud.check_keystone_path()
        if args.servers and stop.signum is None:
            cloud.boot_servers(args.servers)
        if ks_auth is not None:
            entry = cloudsyaml.password_entry(
                ks_auth.auth_url, ks_auth.username, ks_auth.admin_password, ks_auth.project_name
            )
        elif token is not None:
            entry = cloudsyaml.token_entry(cloud.endpoint, token, placement=cloud.placement_endpoint)
        else:
            entry = cloudsyaml.none_entry(cloud.endpoint, placement=cloud.placement_endpoint)
        cloudsyaml.write_entry(args.clouds_yaml, entry, args.cloud_name)
    except BaseException as exc:  # noqa: BLE001 - report, clean up, exit 3
        configure_logging(args.debug)  # a failed setUp may leave the fixtures' handlers
        LOG.error("localnova failed to start: %s", exc, exc_info=True)
        if cloud is not None:
            cloud.stop()
        elif sock is not None:
            sock.close()
        if keystone is not None:
            keystone.stop(sleep=eventlet.sleep)
        return EXIT_START_FAILED

    LOG.info(
        "localnova up in %.1fs: %d hosts, %d servers, clouds.yaml %s (cloud %r)",
        time.monotonic() - started,
        len(args.hosts),
        args.servers,
        args.clouds_yaml,
        args.cloud_name,
    )
    if stop.signum is None:
        ready_out.write(f"READY {cloud.endpoint}\n")
        ready_out.flush()

    status = 0
    while stop.signum is None:
        # Cheap poll: the signal handler only sets a flag (switching green
        # threads inside a signal handler is unsafe).
        eventlet.sleep(0.5)
        if stop.signum is None and keystone is not None and keystone.process and keystone.process.poll() is not None:
            LOG.error("keystone exited with status %s; stopping", keystone.process.returncode)
            status = EXIT_KEYSTONE_DIED
            break
    else:
        LOG.info("signal %s received, stopping", stop.signum)
    _exit_anyway_after(STOP_DEADLINE_SECONDS, status)
    if keystone is not None:
        keystone.terminate()  # stops while Nova's fixtures are torn down
    cloud.stop()
    if keystone is not None:
        keystone.stop(sleep=eventlet.sleep)
    return status


def _exit_anyway_after(seconds: float, status: int) -> None:
    """Exit the process from a native thread if stopping takes too long.

    A green thread stuck in Nova (e.g. waiting on a lock forever) must not
    keep a stopped cloud alive: SIGTERM means gone within ``seconds``.
    """
    import eventlet.patcher

    native_threading = eventlet.patcher.original("threading")
    native_time = eventlet.patcher.original("time")

    def watchdog() -> None:
        native_time.sleep(seconds)
        sys.stderr.write(f"localnova: still stopping after {seconds:.0f} s; exiting anyway\n")
        sys.stderr.flush()
        os._exit(status)

    native_threading.Thread(target=watchdog, name="localnova-stop-watchdog", daemon=True).start()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m localnova``."""
    args = build_parser().parse_args(argv)
    # Everything but the READY line goes to stderr, whatever prints it.
    ready_out = sys.stdout
    sys.stdout = sys.stderr
    if args.command == "up":
        status = cmd_up(args, ready_out)
    else:  # pragma: no cover - argparse enforces the choices
        status = 2
    sys.stderr.flush()
    ready_out.flush()
    # Exit hard: after the fixtures' cleanups nothing useful remains, and a
    # stray (green or native) thread must not keep the process alive.
    os._exit(status)

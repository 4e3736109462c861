"""Are localnova's migration durations wall-clock?  N concurrent copies on N hosts.

Usage::

    python -m localnova.wallclock [--migrations 20] [--seconds 6] [--rounds 3] [--json]

Starts a cloud of ``--migrations`` hosts in bandwidth mode, boots one
m1.tiny (512 MiB) per host, and live-migrates all of them at once around a
ring (host i -> host i+1), so each link side carries exactly one copy and
every copy should take ``--seconds`` (link = 512 MiB / seconds, no dirty
pages).  Repeated ``--rounds`` times (the servers keep moving round the
ring).

Printed per round: min / median / max of

* ``copy``: the fake hypervisor's copy time (``GET /localnova/migrations``,
  from ``driver.live_migration`` entry to the end of the copy): what the model
  controls;
* ``nova``: Nova's own migration record, ``created_at`` -> ``updated_at`` of
  the ``completed`` record: the copy plus Nova's control plane (scheduler,
  conductor pre-checks, pre/post live migration RPCs) on the shared cores,
  split into the time before the copy started and after it ended.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime
import json
import statistics
import sys
import time
from typing import Any

from localnova.harness import LocalNova, LocalNovaHandle

#: m1.tiny's memory, what every server of the ring copies.
TINY_MIB = 512


def ring_hosts(n: int) -> list[str]:
    return [f"host{i + 1}" for i in range(n)]


def _seconds(record: Any) -> float:
    created = datetime.datetime.fromisoformat(str(record.created_at))
    updated = datetime.datetime.fromisoformat(str(record.updated_at))
    return (updated - created).total_seconds()


def ring_round(cloud: LocalNovaHandle, ids: list[str], *, timeout: float = 300.0) -> dict[str, list[float]]:
    """Move every server one host further round the ring, all at once.

    Returns:
        ``{"copy": [...], "nova": [...]}``: seconds per migration (see the module docstring).
    """
    conn = cloud.conn
    hosts = list(cloud.hosts)
    where = {sid: conn.compute.get_server(sid).compute_host for sid in ids}
    cloud.reset_migrations()
    started = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)

    def move(sid: str) -> None:
        dest = hosts[(hosts.index(where[sid]) + 1) % len(hosts)]
        cloud.connect().compute.live_migrate_server(sid, host=dest, block_migration=False)

    with concurrent.futures.ThreadPoolExecutor(len(ids)) as pool:
        list(pool.map(move, ids))
    deadline = time.monotonic() + timeout
    while True:
        records = [
            m
            for m in conn.compute.migrations(migration_type="live-migration", changes_since=started.isoformat())
            if m.server_id in where
        ]
        ended = [m for m in records if m.status in ("completed", "error", "failed", "cancelled")]
        if len(ended) == len(ids):
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"{len(ended)}/{len(ids)} migrations ended after {timeout}s")
        time.sleep(0.5)
    bad = [m.status for m in ended if m.status != "completed"]
    if bad:
        raise RuntimeError(f"migrations not completed: {bad}")
    copies = {e["server"]: e for e in cloud.migrations()["finished"] if e["server"] in where}
    return {
        "copy": [e["seconds"] for e in copies.values()],
        "nova": [_seconds(m) for m in ended],
        # Nova's control plane around the copy: accepted -> copy starts, copy ends -> completed.
        "before_copy": [copies[m.server_id]["started_at"] - _epoch(m.created_at) for m in ended],
        "after_copy": [_epoch(m.updated_at) - copies[m.server_id]["ended_at"] for m in ended],
    }


def _epoch(stamp: Any) -> float:
    """Nova's naive UTC timestamp as epoch seconds."""
    return datetime.datetime.fromisoformat(str(stamp)).replace(tzinfo=datetime.UTC).timestamp()


def spread(values: list[float]) -> str:
    return f"min {min(values):.2f} / median {statistics.median(values):.2f} / max {max(values):.2f} s"


def run(args: argparse.Namespace) -> list[dict[str, list[float]]]:
    hosts = ring_hosts(args.migrations)
    link = TINY_MIB / args.seconds
    with LocalNova(hosts=hosts, link_mib_per_second=link, start_timeout=300) as cloud:
        ids = cloud.boot_servers(len(hosts), hosts=hosts, name_prefix="ring", timeout=300)
        rounds = []
        for n in range(args.rounds):
            result = ring_round(cloud, ids)
            rounds.append(result)
            if not args.json:
                print(
                    f"round {n + 1}: {len(ids)} copies of {TINY_MIB} MiB at {link:.1f} MiB/s "
                    f"(planned {args.seconds:g} s): copy {spread(result['copy'])}; "
                    f"nova record {spread(result['nova'])} (before the copy {spread(result['before_copy'])}, "
                    f"after it {spread(result['after_copy'])})",
                    flush=True,
                )
    return rounds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m localnova.wallclock", description=__doc__.split("\n\n")[0])
    parser.add_argument("--migrations", type=int, default=20, help="hosts = concurrent migrations (a ring)")
    parser.add_argument("--seconds", type=float, default=6.0, help="planned copy time of each migration")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print one JSON object only")
    args = parser.parse_args(argv)
    rounds = run(args)
    if args.json:
        print(json.dumps({"planned_seconds": args.seconds, "rounds": rounds}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

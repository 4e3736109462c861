"""A 4-host drain of 24 mixed servers: Watcher's applier (taskflow, its parents) vs ``drain-hosts``.

    .venv/bin/python benchmarks/drain_hosts_makespan.py [--repeats 3] [--link-mib-per-second 512]
        [--dirty-mib-per-second 32] [--no-limits]

localnova in bandwidth mode (8 hosts, Nova's one live migration per source
host), the mixed flavors of ``benchmarks/plan_makespan.py`` (small 1 GiB /
medium 2 GiB / large 4 GiB of RAM; every third server SHUTOFF and moved cold),
six servers on each of host1..host4, fresh servers for every run:

0. ``nova alone``: no engine, every migration sent to Nova at once
   (``benchmarks/plan_makespan.py``'s floor with Nova's own fixed costs);
1. ``taskflow``: Watcher 17's real applier on the plan Watcher's own
   ``WeightPlanner`` builds (disable the hosts, then migrations in chunks of
   2 with a barrier after each), destinations round-robin over host5..host8;
2. ``limits``: the same plan on the ``temporal`` engine with ``barriers =
   limits`` (no barriers, ``max_parallel`` 2 = Watcher's parallelization;
   the migrations in the duration-aware order);
3. ``planner``: ``DrainHosts`` over host1..host4 at its defaults (every host
   disabled first, one migration per source, one slot per source, longest
   first; the scheduler picks the destinations outside the set).

Prints per run the makespan (wall clock from the start to the end of the
run), the lower bound (over the sources, the largest sum of that host's copy
times alone), the ratios, and for ``planner`` the ETA the ``status`` query
gave when half the migrations had ended, against the real end. Asserts
nothing. Needs localnova's bandwidth mode and ``benchmarks/plan_makespan.py``'s
``--watcher`` shapes (the localnova branch; ca43f2b, 9a52acd).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.plan_makespan import (
    NOVA_ALONE,
    Shape,
    create_flavors,
    lower_bound,
    nova_alone,
    run_shape,
    shape_servers,
)
from localnova import LocalNova
from watcher_temporal.activities.nova import NovaGateway
from watcher_temporal.binaries import start_dev_server
from watcher_temporal.contract import STATUS_QUERY, PlanState, PlanStatus, WorkflowType
from watcher_temporal.contract.drain_hosts import DrainHostsRequest, DrainHostsResult
from watcher_temporal.contract.names import drain_hosts_workflow_id
from watcher_temporal.worker import build_worker

SHAPE = Shape(
    "4-host drain, 24 servers",
    "host_maintenance",
    ("host1", "host2", "host3", "host4"),
    ("host5", "host6", "host7", "host8"),
    ("large", "medium", "small", "large", "small", "medium"),
    cold_every=3,
    per_source=6,
)


async def planner_run(env, cloud, flavors, task_queue: str) -> tuple[float, float | None]:
    """DrainHosts over the shape's sources; (makespan, ETA error at half-way in % of the duration)."""
    from benchmarks.watcher_engine import reset

    reset(cloud)
    shape_servers(cloud, SHAPE, flavors)
    request = DrainHostsRequest(hosts=list(SHAPE.sources), poll_interval_seconds=0.5, timeout_seconds=600)
    started = time.monotonic()
    handle = await env.client.start_workflow(
        WorkflowType.DRAIN_HOSTS.value,
        request,
        id=drain_hosts_workflow_id(request.hosts),
        task_queue=task_queue,
        result_type=DrainHostsResult,
    )
    half_eta = None
    while True:
        await asyncio.sleep(0.5)
        status = await handle.query(STATUS_QUERY, result_type=PlanStatus)
        migrations = [a for a in status.actions if a.id.startswith("migrate-")]
        done = sum(a.state.value == "SUCCEEDED" for a in migrations)
        if half_eta is None and migrations and done >= len(migrations) // 2 and status.eta_seconds is not None:
            half_eta = (time.monotonic(), status.eta_seconds)
        if status.state is not PlanState.ONGOING and status.state is not PlanState.PENDING:
            break
    result = await handle.result()
    span = time.monotonic() - started
    if result.status is None or result.status.state is not PlanState.SUCCEEDED:
        raise SystemExit(f"planner: {result.status}")
    error = None
    if half_eta is not None:
        predicted_end = half_eta[0] + half_eta[1]
        error = 100 * (predicted_end - (started + span)) / span
    return span, error


def summary(label: str, values: list[float], base: list[float], bound: float) -> str:
    ratios = [v / b for v, b in zip(values, base, strict=True)]
    return (
        f"  {label:9} {statistics.median(values):6.1f} s ({min(values):.1f}-{max(values):.1f}), "
        f"/ taskflow {statistics.median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f}), "
        f"/ lower bound {statistics.median(values) / bound:.2f} ({min(values) / bound:.2f}-{max(values) / bound:.2f})"
    )


async def main(args: argparse.Namespace) -> None:
    import warnings

    import yaml

    from benchmarks import plan_makespan
    from tests.watcher_engine.watcher_stack import start_watcher

    warnings.simplefilter("ignore")
    if args.no_limits:
        plan_makespan.WATCHER_RUNS = (("taskflow", "taskflow", None),)
    else:
        plan_makespan.WATCHER_RUNS = (("taskflow", "taskflow", None), ("limits", "temporal", "limits"))
    hosts = tuple(f"host{i}" for i in range(1, 9))
    with LocalNova(
        hosts=hosts,
        link_mib_per_second=args.link_mib_per_second,
        dirty_mib_per_second=args.dirty_mib_per_second,
        start_timeout=300,
    ) as cloud:
        entry = yaml.safe_load(cloud.clouds_yaml.read_text())["clouds"][cloud.cloud_name]
        flavors = create_flavors(cloud)
        env = await start_dev_server()
        async with env:
            nova = NovaGateway(connect=cloud.connect)
            task_queue = f"bench-{uuid.uuid4().hex[:6]}"
            async with build_worker(env.client, task_queue=task_queue, nova=nova):
                stack = start_watcher(
                    Path(tempfile.mkdtemp(prefix="watcher-drain-hosts-")),
                    engine={
                        "address": env.client.service_client.config.target_host,
                        "namespace": env.client.namespace,
                        "task_queue": task_queue,
                    },
                    nova={"migration_interval": "0.5", "endpoint_override": cloud.endpoint},
                    clients_auth={
                        "auth_type": "admin_token",
                        "endpoint": entry["auth"]["endpoint"],
                        "token": entry["auth"]["token"],
                    },
                )
                bound = lower_bound(SHAPE, flavors, args)
                print(
                    f"localnova bandwidth mode: links {args.link_mib_per_second:g} MiB/s, dirty "
                    f"{args.dirty_mib_per_second:g} MiB/s, one live migration per host; lower bound {bound:.1f} s",
                    flush=True,
                )
                spans: dict[str, list[float]] = {}
                errors: list[float] = []
                for repeat in range(args.repeats):
                    runs: dict[str, float] = {}
                    runs[NOVA_ALONE], costs = await asyncio.to_thread(nova_alone, cloud, SHAPE, flavors)
                    print(f"    {NOVA_ALONE}: {costs}", flush=True)
                    runs |= await run_shape(stack, env, cloud, SHAPE, flavors, args)
                    span, error = await planner_run(env, cloud, flavors, task_queue)
                    runs["planner"] = span
                    if error is not None:
                        errors.append(error)
                    for label, value in runs.items():
                        spans.setdefault(label, []).append(value)
                    eta = f", ETA at half-way {error:+.1f} % of the duration" if error is not None else ""
                    print(
                        f"  repeat {repeat + 1}: " + ", ".join(f"{k} {v:.1f} s" for k, v in runs.items()) + eta,
                        flush=True,
                    )
                print(f"{SHAPE.name}: lower bound {bound:.1f} s")
                for label, values in spans.items():
                    print(summary(label, values, spans["taskflow"], bound))
                print(f"  planner / {NOVA_ALONE}: {plan_makespan.ratio_range(spans['planner'], spans[NOVA_ALONE])}")
                if errors:
                    print(f"  planner ETA at half-way: {', '.join(f'{e:+.1f} %' for e in errors)} of the duration")
            nova.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--link-mib-per-second", type=float, default=512.0)
    parser.add_argument("--dirty-mib-per-second", type=float, default=32.0)
    parser.add_argument("--no-limits", action="store_true", help="skip the barriers = limits run")
    parser.add_argument("--verbose", action="store_true")
    parser.set_defaults(runs="taskflow,limits")  # benchmarks.plan_makespan.run_shape reads it
    asyncio.run(main(parser.parse_args()))

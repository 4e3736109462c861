"""Makespan: the temporal engine vs Watcher's applier, and sliding window vs layers.

Two comparisons, each on one local Nova (localnova) in one run.

``--watcher``: plans built by Watcher 17's own ``WeightPlanner`` (disable the
hosts, then the migrations in chunks of ``parallelization`` = 2 with a full
barrier between chunks), each run inside Watcher's real applier
(``DefaultActionPlanHandler``), on fresh servers every run:

1. ``nova alone``: no engine: every migration of the shape sent to Nova at
   once by a bare openstacksdk loop (cold ones confirmed as soon as Nova asks).
   Nova still copies one live migration per source at a time and still runs
   its API, conductor, scheduler and compute steps around each copy: the
   floor any engine can reach on this Nova, its fixed costs included;
2. ``taskflow``: Watcher's applier with its taskflow engine;
3. ``keep``: the ``temporal`` engine at its documented defaults (Watcher's
   parents; ``max_parallel_per_source`` 1 and ``queued_per_source`` 1);
4. ``limits``: the same with ``barriers = limits``;
5. ``planner``: ``DrainHosts`` over the shape's sources at its defaults (the
   duration-aware planner; drain shapes only: it picks the destinations itself).

localnova runs in bandwidth mode (8 hosts, links ``--link-mib-per-second``,
guests dirtying ``--dirty-mib-per-second``, Nova's per-host
``max_concurrent_live_migrations`` = 1), so a copy's time follows the
flavor (RAM for live, disk for cold) and the links it shares.  Shapes
(``--shape``), flavors small/medium/large = 1/2/4 GiB RAM and disk: a
single-host drain (4 mixed servers, the third cold, to 3 destinations), a
4-host drain (2 per host, the second cold, to 4 other hosts) and a
consolidation (2 hosts emptied onto 2, 3 live servers each, mixed flavors).
Printed per shape: the lower bound (over source hosts, the largest sum of
that host's copy times alone: copies only, no fixed cost), each run's median
makespan (from the first request to the end) over ``--repeats`` with
min-max, its ratios to taskflow's and to Nova alone's of the same repeat
(median, min-max); per repeat, what Nova alone spent around the copies
(request to the first copy of each source, the gaps between a source's live
copies, copy end to done).

    .venv/bin/python benchmarks/plan_makespan.py --watcher [--shape all] [--repeats 3]
        [--link-mib-per-second 512] [--dirty-mib-per-second 32] [--verbose]
        [--runs nova,taskflow,keep,limits,planner] [--engine-option KEY=VALUE ...]
        [--planner-option KEY=VALUE ...]

``--verbose`` adds per run how busy each source host's link was (from
localnova's copy timeline: the idle gaps between its copies, the most copies
at once) and the plan each temporal run executed. ``--runs``,
``--engine-option`` and ``--planner-option`` are for diagnosis (e.g. the
temporal runs alone with ``queued_per_source=0``); the comparison is at the
defaults.

Without ``--watcher`` (the synthetic comparison): Watcher's applier runs a plan in chunks of N with a full barrier
between chunks, so each chunk lasts as long as its slowest migration; the
sliding window starts the next migration as soon as any slot frees.
Durations vary through localnova's knobs: live migrations take
``--live-seconds``, cold ones ``--cold-seconds``; the plan interleaves them.

    .venv/bin/python benchmarks/plan_makespan.py [--servers 12] [--parallel 3]
        [--live-seconds 6] [--cold-seconds 1.5]

Prints both makespans (workflow time, start to end of the plan) and their
ratio. Asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import itertools
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from temporalio.testing import WorkflowEnvironment

from localnova import LocalNova
from localnova.harness import LocalNovaHandle
from localnova.links import MIB, Flow
from watcher_temporal.activities.nova import NovaGateway
from watcher_temporal.binaries import start_dev_server
from watcher_temporal.contract import MaintenancePlanInput, PlanState, PlanStatus, watcher_plan_workflow_id
from watcher_temporal.worker import build_worker

#: The label of the run without engine (every migration sent to Nova at once).
NOVA_ALONE = "nova alone"

#: The three runs of ``--watcher``: (label, workflow engine, ``barriers`` option).
WATCHER_RUNS: tuple[tuple[str, str, str | None], ...] = (
    ("taskflow", "taskflow", None),
    ("keep", "temporal", "keep"),
    ("limits", "temporal", "limits"),
)


def migrations(servers: list[str], source: str, dest: str) -> list[dict[str, Any]]:
    """One migration per server; every third is live (slow), the others cold."""
    return [
        {
            "id": f"m{i}",
            "action_type": "migrate",
            "input_parameters": {
                "resource_id": server,
                "migration_type": "live" if i % 3 == 0 else "cold",
                "source_node": source,
                "destination_node": dest,
                "poll_interval_seconds": 0.25,
                "timeout_seconds": 300,
            },
            "parents": [],
        }
        for i, server in enumerate(servers)
    ]


def layered(actions: list[dict[str, Any]], n: int) -> list[dict[str, Any]]:
    """Watcher's schedule: chunks of ``n``, a barrier (nop) after each chunk."""
    out: list[dict[str, Any]] = []
    barrier: str | None = None
    for start in range(0, len(actions), n):
        chunk = [a | {"parents": [barrier] if barrier else []} for a in actions[start : start + n]]
        out += chunk
        barrier = f"barrier{start // n}"
        out.append({"id": barrier, "action_type": "nop", "parents": [a["id"] for a in chunk]})
    return out


async def makespan(env: WorkflowEnvironment, task_queue: str, actions: list[dict[str, Any]], n: int) -> float:
    plan = {
        "actions": actions,
        "max_parallel": n,
        "max_parallel_per_host": n,
        "max_parallel_per_source": n,  # every migration leaves one host: only the barriers differ
        "on_failure": "stop",
    }
    result: PlanStatus = await env.client.execute_workflow(
        "MaintenancePlan", plan, id=f"bench-{uuid.uuid4()}", task_queue=task_queue, result_type=PlanStatus
    )
    if result.state is not PlanState.SUCCEEDED:
        raise SystemExit(f"plan {result.state.value}: {result.reason}")
    assert result.started_at is not None and result.finished_at is not None
    return (result.finished_at - result.started_at).total_seconds()


def set_barriers(config_file: Path, mode: str) -> None:
    """Rewrite ``barriers`` in the engine's section (Watcher's loader re-reads the file for each plan)."""
    lines = [line for line in config_file.read_text().splitlines() if not line.startswith("barriers =")]
    index = lines.index("[watcher_workflow_engines.temporal]")
    lines.insert(index + 1, f"barriers = {mode}")
    config_file.write_text("\n".join(lines) + "\n")


async def plan_shape(env: WorkflowEnvironment, plan_uuid: str) -> str:
    """Parent edges between migrations and max_parallel of the plan's workflow, read from its history."""
    history = await env.client.get_workflow_handle(watcher_plan_workflow_id(plan_uuid)).fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes
    [plan] = env.client.data_converter.payload_converter.from_payloads(
        list(started.input.payloads)[:1], [MaintenancePlanInput]
    )
    assert isinstance(plan, MaintenancePlanInput)
    migrations = {a.id for a in plan.actions if a.action_type.value == "migrate"}
    edges = sum(p in migrations for a in plan.actions if a.id in migrations for p in a.parents)
    return f"migrate->migrate edges {edges}, max_parallel {plan.max_parallel}"


@dataclasses.dataclass(frozen=True)
class Shape:
    """One plan shape of ``--watcher``.

    Attributes:
        name: Label.
        strategy: Watcher strategy the plan is filed under.
        sources: Hosts the servers leave (each gets ``flavors`` servers, rotated by its index).
        dests: Destinations, round-robin per source.
        flavors: Flavor names (:data:`FLAVORS`); source i takes this list rotated by i.
        cold_every: Every n-th server of a source is SHUTOFF and cold-migrated (0: all live).
        per_source: Servers per source host (the first of its rotated list, cycled).
    """

    name: str
    strategy: str
    sources: tuple[str, ...]
    dests: tuple[str, ...]
    flavors: tuple[str, ...]
    cold_every: int
    per_source: int

    @property
    def drain(self) -> bool:
        """Whether ``drain-hosts`` over the sources builds this plan (a host maintenance)."""
        return self.strategy == "host_maintenance"

    def source_flavors(self, i: int) -> list[str]:
        """Flavors of source ``i``'s servers, in plan order."""
        return [self.flavors[(i + j) % len(self.flavors)] for j in range(self.per_source)]


#: name -> (RAM MiB, disk GiB): what the copies are made of.
FLAVORS = {"small": (1024, 1), "medium": (2048, 2), "large": (4096, 4)}
SHAPES = (
    Shape(
        "single-host drain",
        "host_maintenance",
        ("host1",),
        ("host2", "host3", "host4"),
        ("large", "medium", "small", "medium"),
        3,
        4,
    ),
    Shape(
        "4-host drain",
        "host_maintenance",
        ("host1", "host2", "host3", "host4"),
        ("host5", "host6", "host7", "host8"),
        ("large", "medium", "small"),
        2,
        2,
    ),
    Shape(
        "consolidation, mixed flavors",
        "vm_workload_consolidation",
        ("host3", "host4"),
        ("host1", "host2"),
        ("large", "small", "medium"),
        0,
        3,
    ),
)


def selected_shapes(name: str) -> tuple[Shape, ...]:
    return SHAPES if name == "all" else tuple(s for s in SHAPES if s.name.startswith(name))


def create_flavors(cloud: LocalNovaHandle) -> dict[str, str]:
    """The mixed flavors (name -> id)."""
    return {
        name: cloud.conn.compute.create_flavor(name=f"mk-{name}", ram=ram, vcpus=1, disk=disk).id
        for name, (ram, disk) in FLAVORS.items()
    }


def shape_servers(cloud: LocalNovaHandle, shape: Shape, flavors: dict[str, str]) -> list[tuple[str, str, str, str]]:
    """Boot the shape's servers (all at once); return (server, kind, source, dest) in plan order, source by source."""
    out = []
    for i, source in enumerate(shape.sources):
        for j, flavor in enumerate(shape.source_flavors(i)):
            [server] = cloud.boot_servers(
                1, hosts=[source], name_prefix=f"mk{i}{j}", flavor=flavors[flavor], wait=False
            )
            kind = "cold" if shape.cold_every and j % shape.cold_every == shape.cold_every - 1 else "live"
            out.append((server, kind, source, shape.dests[(i + j) % len(shape.dests)]))
    for server, _kind, source, _dest in out:
        cloud.wait_server(server, "ACTIVE", host=source, timeout=300)
    cold = [server for server, kind, _source, _dest in out if kind == "cold"]
    for server in cold:
        cloud.conn.compute.stop_server(server)
    for server in cold:
        cloud.wait_server(server, "SHUTOFF", timeout=300)
    return out


def shape_actions(shape: Shape, servers: list[tuple[str, str, str, str]]) -> list[dict[str, Any]]:
    """The solution's actions: disable each source (Watcher's drain/consolidation), migrate every server."""
    actions: list[dict[str, Any]] = [
        {
            "action_type": "change_nova_service_state",
            "input_parameters": {
                "resource_id": host,
                "resource_name": host,
                "state": "disabled",
                "disabled_reason": "watcher_maintaining",
            },
        }
        for host in shape.sources
    ]
    for server, kind, source, dest in servers:
        actions.append(
            {
                "action_type": "migrate",
                "input_parameters": {
                    "resource_id": server,
                    "migration_type": kind,
                    "source_node": source,
                    "destination_node": dest,
                },
            }
        )
    return actions


def copy_seconds(flavor: str, kind: str, args: argparse.Namespace) -> float:
    """A copy's duration alone on the links (localnova's closed form)."""
    ram, disk = FLAVORS[flavor]
    if kind == "cold":
        return disk * 1024 / args.link_mib_per_second
    flow = Flow(
        server="",
        kind="live",
        source="a",
        dest="b",
        memory_total=ram * MIB,
        disk_total=0,
        dirty_rate=args.dirty_mib_per_second * MIB,
    )
    flow.rate = args.link_mib_per_second * MIB
    return flow.seconds_to_finish()


def lower_bound(shape: Shape, flavors: dict[str, str], args: argparse.Namespace) -> float:
    """Over the sources, the largest sum of that host's copy times (one at a time, or sharing its link)."""
    sums = []
    for i in range(len(shape.sources)):
        names = shape.source_flavors(i)
        sums.append(
            sum(
                copy_seconds(
                    f, "cold" if shape.cold_every and j % shape.cold_every == shape.cold_every - 1 else "live", args
                )
                for j, f in enumerate(names)
            )
        )
    return max(sums)


async def run_shape(
    stack: Any,
    env: WorkflowEnvironment,
    cloud: LocalNovaHandle,
    shape: Shape,
    flavors: dict[str, str],
    args: argparse.Namespace,
) -> dict[str, float]:
    """The shape's plan, once per engine run (fresh servers each time); makespans by run label."""
    from benchmarks.watcher_engine import reset, use_engine

    spans: dict[str, float] = {}
    for label, engine, barriers in WATCHER_RUNS:
        if label not in args.runs.split(","):
            continue
        reset(cloud)
        servers = shape_servers(cloud, shape, flavors)
        plan = stack.build_plan(shape_actions(shape, servers), strategy=shape.strategy)
        use_engine(engine)
        set_barriers(stack.config_file, barriers or "keep")
        cloud.reset_migrations()
        started, started_wall = time.monotonic(), time.time()
        await asyncio.to_thread(stack.run_plan, plan)
        spans[label] = time.monotonic() - started
        if args.verbose:
            print(f"    {shape.name}, {label}: {link_use(cloud, shape, started_wall, time.time())}", flush=True)
        state = stack.plan(plan).state
        if state != "SUCCEEDED":
            raise SystemExit(f"{shape.name}, {label}: plan {state}, actions {dict(stack.action_states(plan))}")
        if args.verbose and engine == "temporal":
            print(f"    {shape.name}, {label}: {await plan_shape(env, plan)}", flush=True)
    return spans


def nova_alone(cloud: LocalNovaHandle, shape: Shape, flavors: dict[str, str]) -> tuple[float, str]:
    """The sources disabled, then every migration sent to Nova at once by a bare openstacksdk loop: no engine.

    Nova still holds each source to one live copy (the rest wait ``queued``) and
    still runs its own API, conductor, scheduler and compute steps around each
    copy: the makespan is the floor any engine can reach on this Nova, fixed
    costs included. Cold migrations are confirmed as soon as Nova reaches
    ``VERIFY_RESIZE`` (as Watcher does); every server is polled every 0.5 s.

    Returns:
        The makespan, and what Nova spent around the copies (:func:`fixed_costs`).
    """
    from benchmarks.watcher_engine import reset

    reset(cloud)
    servers = shape_servers(cloud, shape, flavors)
    compute = cloud.conn.compute
    cloud.reset_migrations()
    started = time.monotonic()
    for svc in compute.services(binary="nova-compute"):
        if svc.host in shape.sources:  # as the plans do first
            compute.disable_service(svc, host=svc.host, binary="nova-compute", disabled_reason="benchmark")
    for server, kind, _source, dest in servers:
        if kind == "live":
            compute.live_migrate_server(server, host=dest, block_migration="auto")
        else:
            compute.migrate_server(server, host=dest)
    waiting = {server: dest for server, _kind, _source, dest in servers}
    while waiting:
        time.sleep(0.5)
        for server, dest in list(waiting.items()):
            found = compute.get_server(server)
            if found.status == "VERIFY_RESIZE":
                compute.confirm_server_resize(server)
            elif found.status == "ERROR":
                raise SystemExit(f"{shape.name}, Nova alone: server {server} in ERROR")
            elif found.compute_host == dest and found.status in ("ACTIVE", "SHUTOFF") and not found.task_state:
                del waiting[server]
    span = time.monotonic() - started
    return span, fixed_costs(cloud, [server for server, *_ in servers])


def fixed_costs(cloud: LocalNovaHandle, servers: list[str]) -> str:
    """Nova's time around the copies: request to copy start (un-queued live ones), copy end to done.

    From Nova's migration records (``created_at``: the API accepted it;
    ``updated_at``: its last status, ``completed`` or ``confirmed``) and
    localnova's copy timeline.
    """
    copies = {c["server"]: c for c in cloud.migrations()["finished"]}
    before, after, gaps = [], [], []
    by_source: dict[str, list[tuple[float, float, float]]] = {}
    for server in servers:
        [record] = list(cloud.conn.compute.migrations(server_id=server)) or [None]
        copy = copies.get(server)
        if record is None or copy is None:
            continue
        created, updated = (_epoch(record.created_at), _epoch(record.updated_at))
        after.append(updated - copy["ended_at"])
        if copy["kind"] == "live":
            by_source.setdefault(copy["source"], []).append((copy["started_at"], copy["ended_at"], created))
    for spans in by_source.values():
        spans.sort()
        first_start, _end, created = spans[0]
        before.append(first_start - created)
        gaps += [nxt[0] - prev[1] for prev, nxt in itertools.pairwise(spans)]
    return (
        f"request to copy (first live per source) {_range(before)}, between a source's live copies "
        f"{_range(gaps)}, copy end to done {_range(after)}"
    )


def _epoch(stamp: str) -> float:
    import datetime as _dt

    return _dt.datetime.fromisoformat(stamp).replace(tzinfo=_dt.UTC).timestamp()


def _range(values: list[float]) -> str:
    if not values:
        return "n/a"
    return f"{min(values):.1f}-{max(values):.1f} s (median {statistics.median(values):.1f})"


async def planner_span(
    env: WorkflowEnvironment,
    cloud: LocalNovaHandle,
    shape: Shape,
    flavors: dict[str, str],
    task_queue: str,
    options: dict[str, Any],
) -> float:
    """``DrainHosts`` over the shape's sources (its defaults unless ``options``); the makespan."""
    from benchmarks.watcher_engine import reset
    from watcher_temporal.contract import WorkflowType
    from watcher_temporal.contract.drain_hosts import DrainHostsRequest, DrainHostsResult
    from watcher_temporal.contract.names import drain_hosts_workflow_id

    reset(cloud)
    shape_servers(cloud, shape, flavors)
    request = DrainHostsRequest.model_validate(
        {"hosts": list(shape.sources), "poll_interval_seconds": 0.5, "timeout_seconds": 600, **options}
    )
    started = time.monotonic()
    result = await env.client.execute_workflow(
        WorkflowType.DRAIN_HOSTS.value,
        request,
        id=drain_hosts_workflow_id(request.hosts),
        task_queue=task_queue,
        result_type=DrainHostsResult,
    )
    span = time.monotonic() - started
    if result.status is None or result.status.state is not PlanState.SUCCEEDED:
        raise SystemExit(f"{shape.name}, planner: {result.status}")
    return span


def link_use(cloud: LocalNovaHandle, shape: Shape, start: float, end: float) -> str:
    """How busy each source's link was during the plan (from localnova's copy timeline).

    ``busy``: share of the makespan when at least one copy left the host;
    ``idle gaps``: the pauses between its copies (engine reaction + Nova's
    control plane before the next copy); ``overlap``: most copies at once.
    """
    copies = cloud.migrations()["finished"]
    parts = []
    for source in shape.sources:
        spans = sorted((c["started_at"], c["ended_at"]) for c in copies if c["source"] == source)
        busy, gaps, cursor = 0.0, [], start
        for begin, finish in spans:
            if begin > cursor:
                gaps.append(begin - cursor)
            busy += max(finish - max(begin, cursor), 0.0)
            cursor = max(cursor, finish)
        overlap = max((sum(b <= t < f for b, f in spans) for t, _ in spans), default=0)
        parts.append(
            f"{source} busy {busy / (end - start):.0%}, idle gaps {' '.join(f'{g:.1f}' for g in gaps)} s, "
            f"tail {end - cursor:.1f} s, overlap {overlap}"
        )
    return "; ".join(parts)


def print_summary(shape: Shape, bound: float, spans: dict[str, list[float]]) -> None:
    """Median (min-max) makespans, ratios to taskflow's and to Nova alone's of the same repeat."""
    print(f"{shape.name}: lower bound {bound:.1f} s (copies only)")
    for label, values in spans.items():
        line = f"  {label:10} {statistics.median(values):6.1f} s ({min(values):.1f}-{max(values):.1f})"
        for base in ("taskflow", NOVA_ALONE):
            if base in spans and base != label:
                line += f", / {base} {ratio_range(values, spans[base])}"
        print(line + f", / lower bound {statistics.median(values) / bound:.2f}")
    if "planner" not in spans and not shape.drain:
        print("  planner    n/a (not a drain: drain-hosts does not build this plan)")
    sys.stdout.flush()


def ratio_range(values: list[float], base: list[float]) -> str:
    ratios = [v / b for v, b in zip(values, base, strict=True)]
    return f"{statistics.median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f})"


async def watcher_main(args: argparse.Namespace) -> None:
    """The shapes of ``--watcher``, each run by taskflow, ``keep`` and ``limits``, ``--repeats`` times."""
    import warnings

    import yaml

    from tests.watcher_engine.watcher_stack import start_watcher

    warnings.simplefilter("ignore")  # openstacksdk's deprecation warnings, one per call

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
                    Path(tempfile.mkdtemp(prefix="watcher-makespan-")),
                    # The engine's documented defaults: only where Temporal is.
                    engine={
                        "address": env.client.service_client.config.target_host,
                        "namespace": env.client.namespace,
                        "task_queue": task_queue,
                        **dict(option.split("=", 1) for option in args.engine_option),
                    },
                    nova={"migration_interval": "0.5", "endpoint_override": cloud.endpoint},
                    clients_auth={
                        "auth_type": "admin_token",
                        "endpoint": entry["auth"]["endpoint"],
                        "token": entry["auth"]["token"],
                    },
                )
                print(
                    f"localnova bandwidth mode: links {args.link_mib_per_second:g} MiB/s each way, dirty rate "
                    f"{args.dirty_mib_per_second:g} MiB/s, max_concurrent_live_migrations 1 per host (Nova's); "
                    "plans from Watcher's WeightPlanner (migrations in chunks of 2); temporal engine: "
                    f"{' '.join(args.engine_option) or 'its documented defaults'}; "
                    "[nova] migration_interval = 0.5 (taskflow's poll)",
                    flush=True,
                )
                results: dict[str, dict[str, list[float]]] = {}
                runs = args.runs.split(",")
                planner_options = dict(_typed(o) for o in args.planner_option)
                for repeat in range(args.repeats):
                    for shape in selected_shapes(args.shape):
                        spans: dict[str, float] = {}
                        if "nova" in runs:
                            spans[NOVA_ALONE], costs = await asyncio.to_thread(nova_alone, cloud, shape, flavors)
                            print(f"    {shape.name}, {NOVA_ALONE}: {costs}", flush=True)
                        spans |= await run_shape(stack, env, cloud, shape, flavors, args)
                        if "planner" in runs and shape.drain:
                            spans["planner"] = await planner_span(
                                env, cloud, shape, flavors, task_queue, planner_options
                            )
                        for label, span in spans.items():
                            results.setdefault(shape.name, {}).setdefault(label, []).append(span)
                        print(
                            f"  repeat {repeat + 1} {shape.name}: "
                            + ", ".join(f"{label} {span:.1f} s" for label, span in spans.items()),
                            flush=True,
                        )
                for shape in selected_shapes(args.shape):
                    print_summary(shape, lower_bound(shape, flavors, args), results[shape.name])
            nova.close()


def _typed(option: str) -> tuple[str, Any]:
    key, value = option.split("=", 1)
    return key, int(value) if value.isdigit() else value


async def main(args: argparse.Namespace) -> None:
    with LocalNova(
        hosts=("host1", "host2"),
        live_migration_seconds=args.live_seconds,
        cold_migration_seconds=args.cold_seconds,
    ) as cloud:
        servers = cloud.boot_servers(args.servers, hosts=["host1"], name_prefix="bench")
        env = await start_dev_server()
        async with env:
            nova = NovaGateway(connect=cloud.connect)
            task_queue = f"bench-{uuid.uuid4().hex[:6]}"
            async with build_worker(env.client, task_queue=task_queue, nova=nova):
                n = args.parallel
                sliding = await makespan(env, task_queue, migrations(servers, "host1", "host2"), n)
                layers = await makespan(env, task_queue, layered(migrations(servers, "host2", "host1"), n), n)
            nova.close()
    work = sum(args.live_seconds if i % 3 == 0 else args.cold_seconds for i in range(args.servers))
    print(
        f"{args.servers} migrations ({(args.servers + 2) // 3} live x {args.live_seconds:g}s, "
        f"{args.servers - (args.servers + 2) // 3} cold x {args.cold_seconds:g}s in localnova; "
        f"{work:g}s of Nova work), concurrency {n}"
    )
    print(f"  Watcher layered (chunks of {n}, barriers): {layers:6.1f} s")
    print(f"  MaintenancePlan sliding window:          {sliding:6.1f} s")
    print(f"  ratio sliding / layered:                 {sliding / layers:6.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--servers", type=int, default=12)
    parser.add_argument("--parallel", type=int, default=3)
    parser.add_argument("--live-seconds", type=float, default=6.0)
    parser.add_argument("--cold-seconds", type=float, default=1.5)
    parser.add_argument("--watcher", action="store_true", help="Watcher's applier vs the temporal engine, per shape")
    parser.add_argument(
        "--shape", default="all", help="--watcher: 'all' or a shape name's start (single, 4-host, cons)"
    )
    parser.add_argument("--repeats", type=int, default=3, help="--watcher: runs of every shape, one sitting")
    parser.add_argument("--link-mib-per-second", type=float, default=512.0, help="--watcher: localnova's links")
    parser.add_argument("--dirty-mib-per-second", type=float, default=32.0, help="--watcher: guests' dirty rate")
    parser.add_argument("--verbose", action="store_true", help="--watcher: the plan each temporal run executed")
    parser.add_argument(
        "--runs", default="nova,taskflow,keep,limits,planner", help="--watcher: which runs (comma separated)"
    )
    parser.add_argument(
        "--planner-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="--watcher: a field of the planner's DrainHostsRequest (default: none, its defaults)",
    )
    parser.add_argument(
        "--engine-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="--watcher: set an option of the temporal engine (default: none, its documented defaults)",
    )
    parsed = parser.parse_args()
    asyncio.run(watcher_main(parsed) if parsed.watcher else main(parsed))

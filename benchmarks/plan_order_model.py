"""The duration-aware order and ETA on a model of a multi-host drain (no Temporal, no Nova).

    .venv/bin/python benchmarks/plan_order_model.py --hosts 4 --servers 24 --seeds 50 --noise 0.2

A model, not a measurement: each migration takes ``3 s + 2 s/GiB`` of RAM
(flavors from 512 MiB to 16 GiB, chosen at random per seed), times a
per-host link factor (0.8 to 1.25) and a noise of +- ``--noise``. It plays,
with the functions the plan workflow runs (:mod:`watcher_temporal.workflows.plan_order`):

* ``planner``: the plan's order (longest first per source, the busiest source
  first), Nova's one live migration per source, one slot per source;
* ``watcher``: Watcher's weight planner on the same Nova: chunks of 2 in
  plan order with a barrier after each chunk (two from one source queue in
  nova-compute);
* ``plan order``: the same limits, migrations started in plan order (a
  plan without sizes): what the order itself wins;
* ``bound``: the issue's lower bound, the busiest source's total time at
  its per-source limit (or all the work over ``max_parallel`` when larger);
* the ETA at half-way (half the migrations ended): the estimates learned from
  those, the rest simulated, against the real end.

Prints, over the seeds, the median / min / max of planner/bound,
planner/watcher and the ETA's error (% of the plan's duration).
"""

from __future__ import annotations

import argparse
import random
import statistics

from watcher_temporal.contract.durations import DurationEstimates
from watcher_temporal.workflows.plan_order import (
    DurationModel,
    Job,
    Limits,
    eta_seconds,
    lower_bound,
    observe,
    simulate,
)

FLAVORS_MIB = [512, 2048, 4096, 8192, 16384]


def _drain(
    rng: random.Random, hosts: int, servers: int, noise: float
) -> tuple[list[Job], dict[str, float], dict[str, float]]:
    """Jobs at their true durations, each one's GiB, and the true durations."""
    factors = {f"h{h}": rng.uniform(0.8, 1.25) for h in range(hosts)}
    jobs, gib, truth = [], {}, {}
    for i in range(servers):
        source = f"h{i % hosts}"
        gib[f"m{i}"] = rng.choice(FLAVORS_MIB) / 1024
        truth[f"m{i}"] = (3 + 2 * gib[f"m{i}"]) * factors[source] * rng.uniform(1 - noise, 1 + noise)
        jobs.append(Job(id=f"m{i}", index=i, seconds=truth[f"m{i}"], source=source, hosts=frozenset({source})))
    return jobs, gib, truth


def _watcher(jobs: list[Job], chunk: int = 2) -> float:
    total = 0.0
    for start in range(0, len(jobs), chunk):
        per_source: dict[str | None, float] = {}
        for job in jobs[start : start + chunk]:
            per_source[job.source] = per_source.get(job.source, 0.0) + job.seconds
        total += max(per_source.values())
    return total


def _eta_error(jobs: list[Job], gib: dict[str, float], truth: dict[str, float], limits: Limits) -> float:
    ends = simulate(jobs, limits)
    end = max(ends.values())
    half = sorted(ends.values())[len(ends) // 2 - 1]
    estimates = DurationEstimates()
    for job in sorted((j for j in jobs if ends[j.id] <= half), key=lambda j: ends[j.id]):
        estimates = observe(estimates, migration_type="live", source=job.source, gib=gib[job.id], seconds=truth[job.id])
    model = DurationModel.of(estimates)
    left, running = [], {}
    for job in jobs:
        if ends[job.id] <= half:
            continue
        expected = model.seconds(migration_type="live", source=job.source, gib=gib[job.id])
        left.append(Job(id=job.id, index=job.index, seconds=expected, source=job.source, hosts=job.hosts))
        started = ends[job.id] - truth[job.id]
        if started <= half:
            running[job.id] = half - started
    predicted = half + eta_seconds(left, limits, elapsed=running)
    return 100 * (predicted - end) / end


def _spread(values: list[float]) -> str:
    return f"median {statistics.median(values):.3f}  min {min(values):.3f}  max {max(values):.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", type=int, default=4)
    parser.add_argument("--servers", type=int, default=24)
    parser.add_argument("--seeds", type=int, default=50)
    parser.add_argument("--noise", type=float, default=0.2)
    parser.add_argument("--per-source", type=int, default=1, help="max_parallel_per_source")
    parser.add_argument("--max-parallel", type=int, default=None, help="default: hosts x per-source")
    args = parser.parse_args()
    window = args.max_parallel or args.hosts * args.per_source
    limits = Limits(max_parallel=window, max_parallel_per_host=window, max_parallel_per_source=args.per_source)
    to_bound, to_watcher, to_plan_order, eta = [], [], [], []
    for seed in range(args.seeds):
        jobs, gib, truth = _drain(random.Random(seed), args.hosts, args.servers, args.noise)
        planner = max(simulate(jobs, limits).values())
        bound = max(lower_bound(jobs, per_source=args.per_source), sum(j.seconds for j in jobs) / window)
        to_bound.append(planner / bound)
        to_watcher.append(planner / _watcher(jobs))
        to_plan_order.append(planner / max(simulate(jobs, limits, ordered=False).values()))
        eta.append(_eta_error(jobs, gib, truth, limits))
    print(
        f"{args.hosts}-host drain of {args.servers} servers, per-source {args.per_source}, max_parallel {window}, "
        f"{args.seeds} seeds, noise +-{args.noise:.0%}"
    )
    print(f"planner / lower bound : {_spread(to_bound)}")
    print(f"planner / plan order  : {_spread(to_plan_order)}")
    print(f"planner / watcher     : {_spread(to_watcher)}")
    print(f"ETA error at half-way : {_spread(eta)}  (% of the plan's duration, + = late)")


if __name__ == "__main__":
    main()

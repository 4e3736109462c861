"""The duration-aware order and the ETA, as pure functions over given durations (no Temporal)."""

from __future__ import annotations

import random

import pytest

from watcher_temporal.contract.durations import DEFAULT_GIB_PER_SECOND, DEFAULT_OVERHEAD_SECONDS, DurationEstimates
from watcher_temporal.contract.migrate import ServerSize
from watcher_temporal.workflows.plan_order import (
    Job,
    Limits,
    ReadyQueue,
    eta_seconds,
    gib_moved,
    gib_per_second,
    lower_bound,
    observe,
    predict,
    simulate,
)

#: Flavors of the mixed drains: RAM (MiB), disk (GiB).
FLAVORS = [(512, 1), (2048, 10), (4096, 20), (8192, 40), (16384, 80)]


def _drain_jobs(rng: random.Random, *, hosts: int = 4, servers: int = 24) -> list[Job]:
    """A multi-host drain: ``servers`` of mixed sizes spread over ``hosts`` sources, in plan (name) order."""
    jobs = []
    for index in range(servers):
        memory, _ = rng.choice(FLAVORS)
        seconds = 3 + memory / 1024 * 2.0 * rng.uniform(0.8, 1.2)
        source = f"h{index % hosts}"
        jobs.append(Job(id=f"m{index}", index=index, seconds=seconds, source=source, hosts=frozenset({source})))
    return jobs


def _plan_order(jobs: list[Job], limits: Limits) -> float:
    """Makespan when ready jobs start in plan order (what a plan did before this module)."""
    window_jobs = {j.id: j for j in jobs}
    clock, running, ends = 0.0, [], {}
    pending = sorted(jobs, key=lambda j: j.index)
    per_source = limits.max_parallel_per_source or len(jobs)
    while pending or running:
        for job in list(pending):
            busy = sum(1 for _, r in running if window_jobs[r].source == job.source)
            if len(running) < limits.max_parallel and busy < per_source:
                running.append((clock + job.seconds, job.id))
                pending.remove(job)
        running.sort()
        clock, done = running.pop(0)
        ends[done] = clock
    return max(ends.values())


def _taskflow(jobs: list[Job], *, chunk: int = 2) -> float:
    """Watcher's applier on a Nova with one live migration per source host: chunks of ``chunk`` with barriers.

    Inside a chunk, two migrations from one source queue in nova-compute (one after the other).
    """
    total = 0.0
    for start in range(0, len(jobs), chunk):
        per_source: dict[str | None, float] = {}
        for job in jobs[start : start + chunk]:
            per_source[job.source] = per_source.get(job.source, 0.0) + job.seconds
        total += max(per_source.values())
    return total


def test_moved_bytes_are_ram_for_live_and_disk_for_cold() -> None:
    size = ServerSize(memory_mib=4096, disk_gib=40)
    assert gib_moved(size, "live") == 4.0
    assert gib_moved(size, "cold") == 40.0


def test_defaults_before_any_migration_finished() -> None:
    estimates = DurationEstimates()
    expected = DEFAULT_OVERHEAD_SECONDS["live"] + 4 / DEFAULT_GIB_PER_SECOND["live"]
    assert predict(estimates, migration_type="live", source="h1", gib=4) == pytest.approx(expected)
    assert gib_per_second(estimates, migration_type="cold", source="h1") == pytest.approx(
        DEFAULT_GIB_PER_SECOND["cold"]
    )


def test_the_line_is_learned_from_finished_migrations() -> None:
    """Truth: 3 s + 2 s/GiB. After a few samples of different sizes the prediction is that line."""
    estimates = DurationEstimates()
    for gib in (0.5, 8, 2, 4):
        estimates = observe(estimates, migration_type="live", source="h1", gib=gib, seconds=3 + 2 * gib)
    assert predict(estimates, migration_type="live", source="h1", gib=16) == pytest.approx(35, rel=0.01)
    assert gib_per_second(estimates, migration_type="live", source="h1") == pytest.approx(0.5, rel=0.01)


def test_one_size_seen_keeps_the_default_overhead_and_fits_the_rate() -> None:
    estimates = observe(DurationEstimates(), migration_type="live", source="h1", gib=2, seconds=9)
    overhead = DEFAULT_OVERHEAD_SECONDS["live"]
    assert predict(estimates, migration_type="live", source="h1", gib=2) == pytest.approx(9)
    assert predict(estimates, migration_type="live", source="h1", gib=4) == pytest.approx(overhead + 2 * (9 - overhead))


def test_a_slower_source_gets_its_own_correction() -> None:
    """h2's link is half as fast: its migrations take twice as long (the factor is shrunk toward 1 a little)."""
    estimates = DurationEstimates()
    for gib in (1, 4, 2, 8, 1, 4) * 2:
        estimates = observe(estimates, migration_type="live", source="h1", gib=gib, seconds=2 + 1 * gib)
        estimates = observe(estimates, migration_type="live", source="h2", gib=gib, seconds=2 * (2 + 1 * gib))
    h1 = predict(estimates, migration_type="live", source="h1", gib=6)
    h2 = predict(estimates, migration_type="live", source="h2", gib=6)
    assert h2 / h1 == pytest.approx(2.0, rel=0.15)
    assert predict(estimates, migration_type="live", source="h3", gib=6) == pytest.approx(1.5 * (2 + 6), rel=0.05)


def test_a_host_with_few_samples_is_not_taken_at_its_word() -> None:
    """One noisy sample on h2 (30 % slow) moves its factor only part of the way: prior of one migration on the line."""
    estimates = DurationEstimates()
    for gib in (1, 4, 2, 8):
        estimates = observe(estimates, migration_type="live", source="h1", gib=gib, seconds=2 + gib)
    estimates = observe(estimates, migration_type="live", source="h2", gib=4, seconds=1.3 * 6)
    h2 = predict(estimates, migration_type="live", source="h2", gib=4)
    assert 6 < h2 < 1.3 * 6


def test_observe_does_not_change_its_input() -> None:
    estimates = DurationEstimates()
    observe(estimates, migration_type="live", source="h1", gib=1, seconds=10)
    assert estimates == DurationEstimates()


def test_a_source_goes_longest_first() -> None:
    """One source, two slots: the long job last in plan order would finish alone (15 s); first, 10 s."""
    jobs = [Job(id=f"s{i}", index=i, seconds=1.0, source="h1") for i in range(10)]
    jobs.append(Job(id="long", index=10, seconds=10.0, source="h1"))
    limits = Limits(max_parallel=4, max_parallel_per_host=4, max_parallel_per_source=2)
    ends = simulate(jobs, limits)
    assert max(ends.values()) == pytest.approx(10.0)
    assert lower_bound(jobs, per_source=2) == pytest.approx(10.0)
    assert _plan_order(jobs, limits) == pytest.approx(15.0)


def test_the_busiest_source_goes_first_when_the_global_limit_binds() -> None:
    """Two slots, three sources: h1 has 3 x 10 s; plan order starts it last and ends at 40 s, not 30 s."""
    jobs = [Job(id=f"a{i}", index=i, seconds=5.0, source="h2") for i in range(2)]
    jobs += [Job(id=f"b{i}", index=2 + i, seconds=5.0, source="h3") for i in range(2)]
    jobs += [Job(id=f"c{i}", index=4 + i, seconds=10.0, source="h1") for i in range(3)]
    limits = Limits(max_parallel=2, max_parallel_per_host=2, max_parallel_per_source=1)
    assert max(simulate(jobs, limits).values()) == pytest.approx(30.0)
    assert _plan_order(jobs, limits) == pytest.approx(40.0)


def test_actions_that_are_not_migrations_go_first_and_parents_hold() -> None:
    disable = Job(id="disable", index=5, seconds=2.0)
    jobs = [disable] + [Job(id=f"m{i}", index=i, seconds=4.0, source="h1", parents=("disable",)) for i in range(2)]
    ends = simulate(jobs, Limits(max_parallel=4, max_parallel_per_host=4, max_parallel_per_source=1))
    assert ends == {"disable": 2.0, "m0": 6.0, "m1": 10.0}


def test_limits_hold_in_the_simulation() -> None:
    """Per destination 1 and an exclusive group: never two at once where the limits say one."""
    jobs = [
        Job(id="a", index=0, seconds=5, source="h1", destination="d", hosts=frozenset({"h1", "d"})),
        Job(id="b", index=1, seconds=5, source="h2", destination="d", hosts=frozenset({"h2", "d"})),
        Job(id="c", index=2, seconds=5, source="h3", groups=("g",), hosts=frozenset({"h3"})),
        Job(id="e", index=3, seconds=5, source="h4", groups=("g",), hosts=frozenset({"h4"})),
    ]
    limits = Limits(
        max_parallel=10, max_parallel_per_host=10, max_parallel_per_source=1, max_parallel_per_destination=1
    )
    ends = simulate(jobs, limits)
    assert sorted((ends["a"], ends["b"])) == [5, 10]
    assert sorted((ends["c"], ends["e"])) == [5, 10]


@pytest.mark.parametrize("seed", range(20))
def test_a_four_host_drain_ends_within_ten_percent_of_the_lower_bound(seed: int) -> None:
    """24 servers of mixed sizes on 4 hosts at Nova's one migration per source: within 10 % of the bound."""
    jobs = _drain_jobs(random.Random(seed))
    limits = Limits(max_parallel=4, max_parallel_per_host=4, max_parallel_per_source=1)
    assert max(simulate(jobs, limits).values()) <= 1.10 * lower_bound(jobs, per_source=1)


@pytest.mark.parametrize("seed", range(20))
@pytest.mark.parametrize("per_source", [2, 3])
def test_several_per_source_stay_within_list_schedulings_bound(seed: int, per_source: int) -> None:
    """k slots per source: longest first keeps each host within sum/k + (1 - 1/k) x its longest job.

    (sum/k itself is not always reachable with six jobs on k slots; this is the guarantee that holds.)
    """
    jobs = _drain_jobs(random.Random(seed))
    limits = Limits(
        max_parallel=4 * per_source, max_parallel_per_host=4 * per_source, max_parallel_per_source=per_source
    )
    ends = simulate(jobs, limits)
    for source in {j.source for j in jobs}:
        mine = [j for j in jobs if j.source == source]
        bound = sum(j.seconds for j in mine) / per_source + (1 - 1 / per_source) * max(j.seconds for j in mine)
        assert max(ends[j.id] for j in mine) <= bound + 1e-9


@pytest.mark.parametrize("seed", range(20))
def test_a_global_limit_below_the_sources_stays_near_its_bound(seed: int) -> None:
    """Two slots for four sources: within 10 % of max(the busiest host, all the work over two slots)."""
    jobs = _drain_jobs(random.Random(seed))
    limits = Limits(max_parallel=2, max_parallel_per_host=2, max_parallel_per_source=1)
    bound = max(lower_bound(jobs, per_source=1), sum(j.seconds for j in jobs) / 2)
    assert max(simulate(jobs, limits).values()) <= 1.10 * bound


@pytest.mark.parametrize("seed", range(20))
def test_a_four_host_drain_beats_watchers_chunks_by_thirty_percent(seed: int) -> None:
    """Same drain, Nova's one live migration per source: ≤ 0.70 x Watcher's chunks of 2 with barriers."""
    jobs = _drain_jobs(random.Random(seed))
    limits = Limits(max_parallel=4, max_parallel_per_host=4, max_parallel_per_source=1)
    assert max(simulate(jobs, limits).values()) <= 0.70 * _taskflow(jobs)


def _run_with_noise(rng: random.Random, jobs: list[Job], limits: Limits, noise: float) -> tuple[float, float]:
    """Run ``jobs`` whose real durations are their estimate ± ``noise``; the ETA at half-way and the real end.

    The estimates start from each job's size at the defaults' line and learn from what finished,
    as the plan does: the ETA at half-way is ``eta_seconds`` over what is left then.
    """
    size = {j.id: (j.seconds - 3) / 2.0 for j in jobs}  # GiB, from the drain's line
    truth = {j.id: j.seconds * rng.uniform(1 - noise, 1 + noise) for j in jobs}
    estimates = DurationEstimates()

    def expected(job: Job) -> Job:
        seconds = predict(estimates, migration_type="live", source=job.source, gib=size[job.id])
        return Job(id=job.id, index=job.index, seconds=seconds, source=job.source, hosts=job.hosts)

    # The real run: one migration per source, every source busy from the start, so the order within
    # a source does not move the end; the simulator over the true durations gives the real ends.
    real_jobs = [Job(id=j.id, index=j.index, seconds=truth[j.id], source=j.source, hosts=j.hosts) for j in jobs]
    ends = simulate(real_jobs, limits)
    starts = {j.id: ends[j.id] - truth[j.id] for j in jobs}
    half = sorted(ends.values())[len(ends) // 2 - 1]
    for job_id in sorted((j for j in ends if ends[j] <= half), key=ends.__getitem__):
        job = next(j for j in jobs if j.id == job_id)
        estimates = observe(
            estimates, migration_type="live", source=job.source, gib=size[job_id], seconds=truth[job_id]
        )
    left = [expected(j) for j in jobs if ends[j.id] > half]
    elapsed = {j.id: half - starts[j.id] for j in left if starts[j.id] <= half}
    return half + eta_seconds(left, limits, elapsed=elapsed), max(ends.values())


@pytest.mark.parametrize("seed", range(20))
def test_the_eta_at_half_way_is_within_fifteen_percent_of_the_end(seed: int) -> None:
    rng = random.Random(seed)
    jobs = _drain_jobs(rng)
    limits = Limits(max_parallel=4, max_parallel_per_host=4, max_parallel_per_source=1)
    predicted, real = _run_with_noise(rng, jobs, limits, noise=0.2)
    assert abs(predicted - real) <= 0.15 * real


def test_the_queue_counts_work_left_per_source() -> None:
    queue = ReadyQueue()
    for i, (source, seconds) in enumerate([("h1", 5.0), ("h2", 9.0), ("h1", 6.0)]):
        queue.expect(Job(id=f"j{i}", index=i, seconds=seconds, source=source))
        queue.push(f"j{i}")
    started: list[str] = []
    queue.start_ready(lambda a: started.append(a) or True, room=lambda: len(started) < 3, source_open=lambda s: True)
    assert started == ["j2", "j0", "j1"]  # h1 has 11 s left, h2 9 s; within h1 the longest first
    assert len(queue) == 0

"""Watcher's chunk barriers between migrations, turned into a limit (the ``barriers = limits`` option).

Watcher's weight planner cuts the migrations of an action plan into chunks of
``[watcher_planners.weight] parallelization`` (2 by default) and makes every
action of chunk k+1 a child of every action of chunk k: a full barrier, so a
slow migration holds up the whole next chunk. The barriers order nothing
real; they only bound how many migrations run at once.

:func:`migrations_without_barriers` drops the parent edges from one migration
to another and keeps every ordering that involves another action type
(``change_nova_service_state`` first, a ``nop`` or an enable last), through
the migrations it used to pass through:

* a migration waits for the non-migration actions it waited for, directly or
  through earlier chunks (disable the host first);
* a non-migration action waits for every migration it waited for, directly
  or through earlier chunks (enable the host only once all have moved).

The plan's ``max_parallel`` becomes the widest chunk instead (Watcher's
``parallelization``), so the plan runs as many migrations at once as
Watcher's applier would, without the barriers.
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence


class BarrierMode(enum.StrEnum):
    """What the engine does with Watcher's barriers between migrate chunks."""

    #: Keep Watcher's parents as they are (default).
    KEEP = "keep"
    #: Drop migrate → migrate parent edges; ``max_parallel`` = the widest chunk.
    LIMITS = "limits"


def migrations_without_barriers(
    parents: Mapping[str, Sequence[str]], migrations: Iterable[str]
) -> tuple[dict[str, list[str]], int]:
    """Parents without migrate → migrate edges, and the widest chunk of migrations.

    Iterative (a plan of 5,000 actions may chain 2,500 chunks); an action on
    a cycle or behind one keeps its parents, so validation still names the cycle.

    Args:
        parents: Action id → its parents' ids (Watcher's ``parents``), in plan order.
        migrations: Ids of the ``migrate`` actions.

    Returns:
        The new parents of every action (in the order of ``parents``, each
        list without duplicates, in first-seen order), and the number of
        migrations in the widest chunk (migrations sharing one set of
        migration parents; 0 when there is no migration).
    """
    migrate_ids = frozenset(migrations) & parents.keys()
    # Non-migration actions each migration waits for, directly or through migrations (topological order).
    before: dict[str, list[str]] = {}
    for action_id in _topological(parents):
        if action_id in migrate_ids:
            found: list[str] = []
            for parent in parents[action_id]:
                found += before.get(parent, []) if parent in migrate_ids else [parent]
            before[action_id] = list(dict.fromkeys(found))
    result: dict[str, list[str]] = {}
    for action_id, own in parents.items():
        if action_id in migrate_ids:
            result[action_id] = before.get(action_id, list(own))
        elif any(p in migrate_ids for p in own):
            result[action_id] = _through_migrations(parents, own, migrate_ids)
        else:
            result[action_id] = list(dict.fromkeys(own))
    chunks = Counter(frozenset(p for p in parents[m] if p in migrate_ids) for m in migrate_ids)
    return result, max(chunks.values(), default=0)


def _through_migrations(
    parents: Mapping[str, Sequence[str]], own: Sequence[str], migrate_ids: frozenset[str]
) -> list[str]:
    """``own`` parents plus every migration reached from them through migrations only."""
    found: list[str] = []
    seen: set[str] = set()
    stack = list(reversed(own))
    while stack:
        parent = stack.pop()
        if parent in seen:
            continue
        seen.add(parent)
        found.append(parent)
        if parent in migrate_ids:
            stack.extend(reversed([p for p in parents[parent] if p in migrate_ids]))
    return found


def _topological(parents: Mapping[str, Sequence[str]]) -> list[str]:
    """Ids whose ancestors are all known and acyclic, parents before children (Kahn)."""
    waiting = {a: {p for p in ps if p in parents} for a, ps in parents.items()}
    children: dict[str, list[str]] = {a: [] for a in parents}
    for child, own in waiting.items():
        for parent in own:
            children[parent].append(child)
    ready = [a for a, own in waiting.items() if not own]
    order = []
    while ready:
        done = ready.pop()
        order.append(done)
        for child in children[done]:
            waiting[child].discard(done)
            if not waiting[child]:
                ready.append(child)
    return order

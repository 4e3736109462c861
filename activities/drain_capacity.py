"""``drain-host``'s capacity check: do the servers fit on the hosts left?

Pure (no Nova): first-fit decreasing bin packing of the servers' flavors
(VCPU, MEMORY_MB, DISK_GB) into what placement can still allocate on each
remaining host (``(total - reserved) * allocation_ratio - used``). The
scheduler may place servers differently; the check answers "is there room at
all", and a member of a hard ``anti-affinity`` group is never packed onto a
host that holds (or was packed with) another member. Soft anti-affinity does
not constrain the packing (Nova may break it when it must).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from watcher_temporal.errors import PreconditionFailed

from .nova import CAPACITY_RESOURCES, DrainServer, HostCapacity, ServerGroupFacts

#: Most servers a refusal names (the count is always given).
MAX_LISTED = 10


def _fits(need: Mapping[str, int], free: Mapping[str, float]) -> bool:
    # A resource class the host has no inventory of (shared storage's DISK_GB) does not limit it.
    return all(free[rc] >= need.get(rc, 0) for rc in CAPACITY_RESOURCES if rc in free)


def _size_key(server: DrainServer) -> tuple[int, int, int, str]:
    res = server.resources
    return (-res.get("MEMORY_MB", 0), -res.get("VCPU", 0), -res.get("DISK_GB", 0), server.server.id)


def unplaced_servers(
    servers: Sequence[DrainServer], capacities: Sequence[HostCapacity], groups: Sequence[ServerGroupFacts] = ()
) -> list[DrainServer]:
    """The servers first-fit decreasing cannot place on ``capacities`` (empty: they all fit).

    Args:
        servers: The servers to move.
        capacities: The hosts they may go to, with their free resources.
        groups: Server groups; hard ``anti-affinity`` members need distinct hosts.
    """
    free = {c.host: dict(c.free) for c in capacities}
    moving = {s.server.id for s in servers}
    taken: dict[str, set[str]] = {}  # hard group id -> hosts holding (or packed with) a member
    group_of: dict[str, list[str]] = {}
    for group in groups:
        if group.policy != "anti-affinity":
            continue
        taken[group.id] = {h for m, h in group.member_hosts.items() if h and m not in moving}
        for member in group.member_hosts:
            group_of.setdefault(member, []).append(group.id)
    unplaced = []
    for server in sorted(servers, key=_size_key):
        mine = group_of.get(server.server.id, [])
        for host in sorted(free):
            if _fits(server.resources, free[host]) and not any(host in taken[g] for g in mine):
                for rc in free[host]:
                    free[host][rc] -= server.resources.get(rc, 0)
                for g in mine:
                    taken[g].add(host)
                break
        else:
            unplaced.append(server)
    return unplaced


def refuse_unplaced(unplaced: Sequence[DrainServer], *, total: int, hosts: Sequence[str]) -> None:
    """Raise the refusal naming (at most :data:`MAX_LISTED` of) the servers that do not fit.

    Raises:
        PreconditionFailed: always, when ``unplaced`` is not empty.
    """
    if not unplaced:
        return
    listed = []
    for server in unplaced[:MAX_LISTED]:
        res = server.resources
        need = ", ".join(f"{rc} {res.get(rc, 0)}" for rc in CAPACITY_RESOURCES)
        listed.append(f"{server.server.id} ({(server.server.name or '-')[:60]}) needs {need}")
    more = f"; and {len(unplaced) - MAX_LISTED} more" if len(unplaced) > MAX_LISTED else ""
    where = ", ".join(hosts[:20]) or "none"
    raise PreconditionFailed(
        f"{len(unplaced)} of {total} servers do not fit on the enabled hosts left ({where}): "
        f"{'; '.join(listed)}{more}; nothing was changed (ignore_capacity / --ignore-capacity drains anyway)"
    )

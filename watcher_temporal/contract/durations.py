"""Expected durations of a plan's actions: the sizes that go in, the estimates that come out.

A plan orders its migrations longest first and reports an ETA
(:mod:`watcher_temporal.workflows.plan_order`). What it needs to know, and
what it learns while it runs, crosses process boundaries (plan input,
continue-as-new, the ``status`` query), so its shape lives here:

* :data:`ServerSizes` (plan input ``server_sizes``): server UUID →
  :class:`~watcher_temporal.contract.migrate.ServerSize` (flavor RAM, root +
  ephemeral disk). ``drain-hosts`` fills it from the flavors it reads; a plan
  started without it reads the sizes itself (activity
  ``plan.migration_sizes``) before it starts anything.
* :class:`DurationEstimates`: what the plan learned from its finished
  migrations (a least-squares line of seconds over GiB moved, per migration
  type, and an exponentially weighted correction per source host).

Pure models and constants: workflow code imports them.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints

from watcher_temporal.contract.message import Message
from watcher_temporal.contract.migrate import ServerSize

#: Most entries of a plan's ``server_sizes`` (one per migration; a plan holds at most 5,000 actions).
MAX_SERVER_SIZES = 5000

#: Before any migration of the plan finished: seconds a migration takes besides moving bytes
#: (Nova's checks, the scheduler, libvirt's set-up and switch-over), per migration type.
DEFAULT_OVERHEAD_SECONDS = {"live": 5.0, "cold": 15.0}
#: Before any migration of the plan finished: GiB moved per second, per migration type (live: the
#: guest's RAM over a 10 Gbit/s link with dirty pages sent again; cold: its disk).
DEFAULT_GIB_PER_SECOND = {"live": 0.5, "cold": 0.25}
#: How fast a host's older migrations fade: each new one multiplies the older ones' weight by ``1 - EWMA_WEIGHT``.
EWMA_WEIGHT = 0.1
#: Expected seconds of the actions that are not migrations (a ``sleep`` takes its ``duration``).
DEFAULT_ACTION_SECONDS = {
    "change_nova_service_state": 2.0,
    "nop": 0.5,
    "stop": 30.0,
    "shelve": 60.0,
    "delete": 30.0,
    "resize": 120.0,
    "watcher_action": 60.0,
}

#: The size of a server whose flavor the plan could not read, when it knows no other (m1.small-like).
DEFAULT_SERVER_SIZE = ServerSize(memory_mib=2048, disk_gib=20)

ServerKey = Annotated[str, StringConstraints(min_length=1, max_length=64)]
#: Plan input ``server_sizes``: server UUID → what its flavor says a migration moves.
ServerSizes = Annotated[dict[ServerKey, ServerSize], Field(max_length=MAX_SERVER_SIZES)]


class HostSamples(Message):
    """Exponentially weighted sums over one source host's finished migrations of one type.

    Each new sample weighs 1; older ones are multiplied by ``1 - EWMA_WEIGHT``
    at every new one, so the host's recent migrations count most.

    Attributes:
        weight: Σ weights.
        sum_x: Weighted Σ GiB moved.
        sum_y: Weighted Σ seconds taken.
        sum_xx: Weighted Σ GiB².
        sum_xy: Weighted Σ GiB * seconds.
        min_y: The shortest migration seen (the overhead never exceeds it).
    """

    weight: float = 0.0
    sum_x: float = 0.0
    sum_y: float = 0.0
    sum_xx: float = 0.0
    sum_xy: float = 0.0
    min_y: float | None = None


class DurationEstimates(Message):
    """What a plan learned from its finished migrations (carried over continue-as-new).

    Attributes:
        hosts: Per ``<type>:<source host>``, the sums of its finished
            migrations. From them the plan fits, per migration type, one line
            ``seconds = factor(host) x (overhead + GiB / rate)`` (the line is
            shared by the plan, the factor is each host's: a slower link, or
            migrations sharing it).
    """

    hosts: dict[str, HostSamples] = Field(default_factory=dict)


class SizesRequest(Message):
    """Input of ``plan.migration_sizes``: the migrations whose servers' sizes the plan needs.

    Attributes:
        servers: Server UUID → its source host (the activity lists each host's servers once).
    """

    servers: dict[ServerKey, str] = Field(max_length=MAX_SERVER_SIZES)


class SizesResult(Message):
    """Output of ``plan.migration_sizes``.

    Attributes:
        sizes: The servers found on their source host, with their flavor's size.
        missing: How many were not found there (they get the plan's median size).
    """

    sizes: dict[str, ServerSize] = Field(default_factory=dict)
    missing: int = 0

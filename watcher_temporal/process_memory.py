"""Keep a many-threaded worker's memory flat: fewer glibc malloc arenas.

glibc gives each thread that allocates concurrently an arena of its own, up
to eight per core, and an arena keeps the memory it once held. A worker runs
dozens of Nova threads (each openstacksdk call allocates in its thread) next
to Temporal's core threads, so its resident memory grows with the number of
threads rather than with the work. :func:`limit_malloc_arenas` caps the arenas
the way ``MALLOC_ARENA_MAX`` does, before any thread starts; an operator's own
``MALLOC_ARENA_MAX`` wins. Elsewhere than glibc it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

logger = logging.getLogger(__name__)

#: ``mallopt`` parameter number of ``M_ARENA_MAX`` (glibc's malloc.h).
_M_ARENA_MAX = -8


def limit_malloc_arenas(arenas: int | None) -> bool:
    """Cap glibc's malloc arenas at ``arenas`` (None: leave glibc alone).

    Call it first thing in the process, before threads start, with
    :attr:`watcher_temporal.config.WorkerSettings.malloc_arenas` (None when the
    operator set ``MALLOC_ARENA_MAX``: glibc applies that itself).

    Returns:
        True when the cap was set here.
    """
    if arenas is None:
        return False
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    done = bool(mallopt(_M_ARENA_MAX, arenas))
    if not done:
        logger.debug("mallopt(M_ARENA_MAX, %d) refused", arenas)
    return done

"""Turn the SERVER argument into a UUID (and a name, when Nova was asked)."""

from __future__ import annotations

import asyncio
import os
import uuid

from watcher_temporal.cli.exit_codes import UsageError


async def resolve_server(text: str) -> tuple[str, str | None]:
    """``(uuid, name)`` of the server ``text`` names.

    A UUID is taken as is (no Nova call: the CLI needs no Nova credentials).
    A name is looked up through openstacksdk only when ``OS_CLOUD`` is set.

    Raises:
        UsageError: not a UUID and no ``OS_CLOUD``, or Nova knows no (or
            more than one) server by that name.
    """
    try:
        return str(uuid.UUID(text)), None
    except ValueError:
        pass
    if not os.environ.get("OS_CLOUD"):
        raise UsageError(f"SERVER must be a server UUID (got {text!r}); set OS_CLOUD to look servers up by name")
    return await asyncio.to_thread(_find_by_name, text)


def _find_by_name(name: str) -> tuple[str, str | None]:
    import openstack
    import openstack.exceptions

    conn = openstack.connect(cloud=os.environ["OS_CLOUD"])
    try:
        server = conn.compute.find_server(name, ignore_missing=True, all_projects=True)
    except openstack.exceptions.DuplicateResource:
        raise UsageError(f"more than one server is named {name!r}; give its UUID") from None
    finally:
        conn.close()
    if server is None:
        raise UsageError(f"no server named {name!r} in cloud {os.environ['OS_CLOUD']!r}")
    return str(server.id), server.name

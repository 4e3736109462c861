"""Turn the SERVER argument into a UUID (and a name, when Nova was asked)."""

from __future__ import annotations

import asyncio
import os
import uuid

from watcher_temporal.activities.nova import NovaGateway
from watcher_temporal.cli.exit_codes import CommandError, ExitCode, UsageError
from watcher_temporal.cli.render import safe
from watcher_temporal.errors import NovaUnavailable, WatcherTemporalError


async def resolve_server(text: str) -> tuple[str, str | None]:
    """``(uuid, name)`` of the server ``text`` names.

    A UUID is taken as is (no Nova call: the CLI needs no Nova credentials).
    A name is looked up through the one Nova gateway only when ``OS_CLOUD``
    is set.

    Raises:
        UsageError: not a UUID and no ``OS_CLOUD``, or Nova knows no (or
            more than one) server by that name.
        CommandError: the cloud cannot be used (unknown ``OS_CLOUD``, bad
            credentials, Nova unreachable).
    """
    try:
        return str(uuid.UUID(text)), None
    except ValueError:
        pass
    if not os.environ.get("OS_CLOUD"):
        raise UsageError(f"SERVER must be a server UUID (got {safe(text)}); set OS_CLOUD to look servers up by name")
    return await asyncio.to_thread(_find_by_name, text, os.environ["OS_CLOUD"])


def _find_by_name(name: str, cloud: str) -> tuple[str, str | None]:
    import openstack

    gateway = NovaGateway(connect=lambda: openstack.connect(cloud=cloud))
    try:
        found = gateway.find_servers_by_name(name)
    except WatcherTemporalError as err:
        # A cloud that cannot be used is the user's to fix (2); Nova in trouble is not (1).
        code = ExitCode.FAILED if isinstance(err, NovaUnavailable) else ExitCode.USAGE
        message = f"cannot look up server {safe(name)} in cloud {safe(cloud)}: {safe(err.message)}"
        raise CommandError(code, type(err).__name__, message) from None
    finally:
        gateway.close()
    if not found:
        raise UsageError(f"no server named {safe(name)} in cloud {safe(cloud)}")
    if len(found) > 1:
        raise UsageError(f"more than one server is named {safe(name)}; give its UUID")
    return found[0].id, found[0].name

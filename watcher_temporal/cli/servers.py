"""Turn the SERVER argument into a UUID (and a name, when Nova was asked).

A UUID needs no Nova: the CLI then holds no Nova credentials. A name is
looked up with openstacksdk (imported only then) in the cloud ``OS_CLOUD``
names; the worker's own Nova code is not involved.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from typing import Any

from watcher_temporal.cli.exit_codes import CommandError, ExitCode, UsageError
from watcher_temporal.cli.render import safe
from watcher_temporal.config import CliSettings


async def resolve_server(text: str, *, settings: CliSettings | None = None) -> tuple[str, str | None]:
    """``(uuid, name)`` of the server ``text`` names.

    Raises:
        UsageError: not a UUID and no ``OS_CLOUD``, or Nova knows no (or
            more than one) server by that name.
        CommandError: the cloud cannot be used (unknown ``OS_CLOUD``, bad
            credentials: exit 2; Nova unreachable: exit 1).
    """
    try:
        return str(uuid.UUID(text)), None
    except ValueError:
        pass
    cloud = (settings or CliSettings.from_env()).os_cloud
    if not cloud:
        raise UsageError(f"SERVER must be a server UUID (got {safe(text)}); set OS_CLOUD to look servers up by name")
    return await asyncio.to_thread(find_by_name, text, cloud)


def find_by_name(name: str, cloud: str) -> tuple[str, str | None]:
    """The one server (all projects) named exactly ``name`` in ``cloud``.

    Raises:
        UsageError: none, or more than one, or the cloud cannot be used.
        CommandError: Nova (or its identity service) cannot be reached.
    """
    import openstack

    try:
        conn = openstack.connect(cloud=cloud)
        try:
            pattern = "^" + re.escape(name) + "$"  # Nova filters names by regular expression
            found = [
                (s.id, s.name)
                for s in conn.compute.servers(details=False, all_projects=True, name=pattern)
                if s.name == name
            ][:2]
        finally:
            conn.close()
    except Exception as err:  # noqa: BLE001 - openstacksdk and keystoneauth raise many kinds; one line each
        raise _cloud_error(name, cloud, err) from None
    if not found:
        raise UsageError(f"no server named {safe(name)} in cloud {safe(cloud)}")
    if len(found) > 1:
        raise UsageError(f"more than one server is named {safe(name)}; give its UUID")
    return found[0]


def _cloud_error(name: str, cloud: str, err: Exception) -> CommandError:
    """Nova unreachable: exit 1; any other refusal (unknown cloud, credentials, rights): exit 2."""
    from keystoneauth1 import exceptions as ks_exceptions

    unreachable: tuple[type[Any], ...] = (
        ks_exceptions.ConnectionError,
        ks_exceptions.DiscoveryFailure,
        ConnectionError,
        TimeoutError,
    )
    status = getattr(err, "status_code", None) or getattr(err, "http_status", None) or 0
    code = ExitCode.FAILED if isinstance(err, unreachable) or status >= 500 else ExitCode.USAGE
    lines = str(err).strip().splitlines()
    detail = lines[0] if lines else type(err).__name__
    message = f"cannot look up server {safe(name)} in cloud {safe(cloud)}: {safe(detail)}"
    return CommandError(code, type(err).__name__, message)

"""Custom search attributes: find every migration of a server, host or plan.

Six Keyword attributes. Five are set by the starters at start time and
upserted by ``MigrateServer`` once its input is valid (so a workflow started by
the ``temporal`` CLI or a parent is found too); ``WatcherOutcome`` is upserted
by every migration and plan as it ends::

    temporal workflow list --query 'WatcherServerId="<uuid>"'
    temporal workflow list --query 'WatcherSourceHost="host1" OR WatcherDestinationHost="host1"'

A namespace must know them before any workflow sets them: an upsert of an
unknown attribute fails the workflow task (and the workflow retries it
forever). :func:`register_search_attributes` adds the missing ones through
the operator service and is safe to run again; the worker calls it at start-up
(``WATCHER_TEMPORAL_REGISTER_SEARCH_ATTRIBUTES=0`` turns that off), the
docker-compose stack runs it once, and a dev server can be started with
:func:`dev_server_args`.

This module is imported by workflow code: no I/O at import time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from temporalio.common import (
    SearchAttributeKey,
    SearchAttributePair,
    SearchAttributeUpdate,
    TypedSearchAttributes,
)

if TYPE_CHECKING:
    from temporalio.client import Client

SERVER_ID = SearchAttributeKey.for_keyword("WatcherServerId")
SOURCE_HOST = SearchAttributeKey.for_keyword("WatcherSourceHost")
DESTINATION_HOST = SearchAttributeKey.for_keyword("WatcherDestinationHost")
MIGRATION_TYPE = SearchAttributeKey.for_keyword("WatcherMigrationType")
PLAN_ID = SearchAttributeKey.for_keyword("WatcherPlanId")
#: How a migration or plan ended: SUCCEEDED, SKIPPED, REVERTED, CANCELLED or
#: FAILED (Temporal's own status says COMPLETED for the first three).
OUTCOME = SearchAttributeKey.for_keyword("WatcherOutcome")

#: Every attribute of the project, in registration order.
ALL_KEYS: tuple[SearchAttributeKey[str], ...] = (
    SERVER_ID,
    SOURCE_HOST,
    DESTINATION_HOST,
    MIGRATION_TYPE,
    PLAN_ID,
    OUTCOME,
)


def dev_server_args() -> list[str]:
    """``temporal server start-dev`` arguments that define every attribute.

    For ``WorkflowEnvironment.start_local(dev_server_extra_args=...)`` or a
    shell: ``temporal server start-dev $(python -m watcher_temporal.search_attributes --dev-args)``.
    """
    args: list[str] = []
    for key in ALL_KEYS:
        args += ["--search-attribute", f"{key.name}=Keyword"]
    return args


def migration_attributes(
    *,
    server_id: str,
    source_host: str,
    migration_type: str,
    destination_host: str | None = None,
    plan_id: str | None = None,
) -> TypedSearchAttributes:
    """The attributes a starter sets on a ``MigrateServer`` workflow."""
    pairs: list[SearchAttributePair[str]] = [
        SearchAttributePair(SERVER_ID, server_id),
        SearchAttributePair(SOURCE_HOST, source_host),
        SearchAttributePair(MIGRATION_TYPE, migration_type),
    ]
    if destination_host:
        pairs.append(SearchAttributePair(DESTINATION_HOST, destination_host))
    if plan_id:
        pairs.append(SearchAttributePair(PLAN_ID, plan_id))
    return TypedSearchAttributes(pairs)


def as_updates(attributes: TypedSearchAttributes) -> list[SearchAttributeUpdate[str]]:
    """The same attributes as ``workflow.upsert_search_attributes`` updates."""
    return [pair.key.value_set(pair.value) for pair in attributes if isinstance(pair.value, str)]


def keyword_values(attributes: TypedSearchAttributes) -> dict[str, str]:
    """``{attribute name: value}`` of the project's attributes that are set."""
    values: dict[str, str] = {}
    for key in ALL_KEYS:
        value = attributes.get(key)
        if value is not None:
            values[key.name] = value
    return values


def missing_attributes(existing: Mapping[str, object], keys: Sequence[SearchAttributeKey[str]] = ALL_KEYS) -> list[str]:
    """Names of ``keys`` not among a namespace's ``existing`` custom attributes."""
    return [key.name for key in keys if key.name not in existing]


async def register_search_attributes(client: Client, namespace: str | None = None) -> list[str]:
    """Add the project's attributes a namespace lacks; a no-op when all exist.

    Args:
        client: A connected ``temporalio.client.Client``.
        namespace: Namespace to change; the client's own by default.

    Returns:
        The names that were added (empty when nothing was missing).

    Raises:
        temporalio.service.RPCError: the server refused (e.g. no permission:
            Temporal Cloud namespaces are changed with ``tcld``/the UI).
    """
    from temporalio.api.enums.v1 import IndexedValueType
    from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
    from temporalio.service import RPCError, RPCStatusCode

    namespace = namespace or client.namespace
    try:
        listed = await client.operator_service.list_search_attributes(ListSearchAttributesRequest(namespace=namespace))
        missing = missing_attributes(listed.custom_attributes)
    except RPCError as err:
        # Temporal's time-skipping test server can add attributes but not list them.
        if err.status != RPCStatusCode.UNIMPLEMENTED:
            raise
        missing = [key.name for key in ALL_KEYS]
    if not missing:
        return []
    request = AddSearchAttributesRequest(
        namespace=namespace,
        search_attributes={name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD for name in missing},
    )
    try:
        await client.operator_service.add_search_attributes(request)
    except RPCError as err:
        # Another worker registering at the same moment is not a failure.
        if err.status != RPCStatusCode.ALREADY_EXISTS:
            raise
    return missing


async def ensure_registered(client: Client) -> None:
    """Worker start-up: register missing attributes (``WorkerSettings.register_search_attributes``).

    A refusal (no permission) is logged, not raised: the worker still serves
    namespaces an administrator prepared.
    """
    import logging

    from temporalio.service import RPCError

    log = logging.getLogger("watcher_temporal.search_attributes")
    try:
        added = await register_search_attributes(client)
    except RPCError as err:
        log.error(
            "cannot register search attributes %s on namespace %s (%s); MigrateServer workflows fail "
            "their first task until they exist: run `python -m watcher_temporal.search_attributes` "
            "with admin rights",
            ", ".join(k.name for k in ALL_KEYS),
            client.namespace,
            err.message,
        )
        return
    if added:
        log.info("registered search attributes %s on namespace %s", ", ".join(added), client.namespace)


async def _register_from_env() -> int:
    from watcher_temporal.config import TemporalSettings, connect_client

    settings = TemporalSettings.from_env()
    client = await connect_client(settings)
    added = await register_search_attributes(client)
    if added:
        print(f"namespace {settings.namespace}: added {', '.join(added)}")
    else:
        print(f"namespace {settings.namespace}: {', '.join(k.name for k in ALL_KEYS)} already registered")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m watcher_temporal.search_attributes [--dev-args]``: register (or print dev-server args)."""
    import argparse
    import asyncio

    parser = argparse.ArgumentParser(
        prog="python -m watcher_temporal.search_attributes",
        description="Register watcher-temporal's search attributes on the namespace of TEMPORAL_ADDRESS/NAMESPACE.",
    )
    parser.add_argument("--dev-args", action="store_true", help="print `temporal server start-dev` arguments instead")
    args = parser.parse_args(argv)
    if args.dev_args:
        print(" ".join(dev_server_args()))
        return 0
    return asyncio.run(_register_from_env())


if __name__ == "__main__":
    raise SystemExit(main())

"""Temporal's Web UI in a real browser, against the codec server, as docs/security.md tells an operator.

A dev server with its UI, a worker with payload encryption on, the codec server
with a token. Headless Chromium (Debian's) signs in at the codec server, points
the UI's codec setting at it with cross-origin credentials, and reads the page:
decoded input and result, a ``WatcherOutcome`` filter, and with a wrong token,
ciphertext and the UI's own "could not connect". Screenshots go to
build/test-artifacts/web-ui/.
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from urllib.parse import quote

import pytest
from playwright.async_api import Page
from temporalio.client import Client

from localnova.harness import LocalNovaHandle
from tests.observability.browser import artifacts_dir, chromium
from tests.realstack import boot_on
from watcher_temporal.activities.nova import NovaGateway
from watcher_temporal.binaries import start_dev_server
from watcher_temporal.codec import AesGcmCodec, CodecSettings
from watcher_temporal.codec_server import CodecServerSettings, make_server
from watcher_temporal.codec_server_auth import CodecServerAuth
from watcher_temporal.config import data_converter
from watcher_temporal.contract import MigrateServerInput, MigrationStatus
from watcher_temporal.starter import start_migration
from watcher_temporal.worker import build_worker

pytestmark = pytest.mark.integration

TOKEN = "web-ui-test-token-" + "x" * 24
SHOTS = "web-ui"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Stack:
    ui: str
    codec: str
    succeeded: str  # server id of the migration that SUCCEEDED
    reverted: str  # ... and of the one that was REVERTED


@pytest.fixture(scope="module")
def codec_server() -> Iterator[tuple[str, CodecSettings]]:
    """The real codec server (its HTTP handler and auth) on a free loopback port, in a thread."""
    ui_port = free_port()
    codec_settings = CodecSettings(keys=(os.urandom(32),))
    settings = CodecServerSettings(
        host="127.0.0.1",
        port=0,
        origins=(f"http://127.0.0.1:{ui_port}", f"http://localhost:{ui_port}"),
        auth=CodecServerAuth(tokens=(TOKEN,)),
    )
    server = make_server(AesGcmCodec(*codec_settings.keys), settings)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}|{ui_port}", codec_settings
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
async def stack(codec_server: tuple[str, CodecSettings], localnova_cloud: LocalNovaHandle) -> AsyncIterator[Stack]:
    endpoint_and_port, codec_settings = codec_server
    codec_url, ui_port = endpoint_and_port.split("|")
    env = await start_dev_server(ui=True, ui_port=int(ui_port), extra_args=["--ui-codec-endpoint", codec_url])
    try:
        client = await Client.connect(
            env.client.service_client.config.target_host,
            namespace=env.client.namespace,
            data_converter=data_converter(codec=codec_settings),
        )
        localnova_cloud.reset_config()
        localnova_cloud.configure(live_migration_fail_hosts=["host3"])
        task_queue = f"webui-{uuid.uuid4().hex[:8]}"
        nova = NovaGateway(connect=localnova_cloud.connect)
        succeeded, reverted = boot_on(localnova_cloud, "host1"), boot_on(localnova_cloud, "host1")
        async with build_worker(client, task_queue=task_queue, nova=nova):
            handles = [
                await start_migration(
                    client,
                    MigrateServerInput(
                        resource_id=server, migration_type="live", source_node="host1", destination_node=dest
                    ),
                    task_queue=task_queue,
                )
                for server, dest in ((succeeded, "host2"), (reverted, "host3"))
            ]
            results = await asyncio.gather(*(h.result() for h in handles))
        nova.close()
        localnova_cloud.reset_config()
        assert [r.status for r in results] == [MigrationStatus.SUCCEEDED, MigrationStatus.REVERTED]
        yield Stack(ui=f"http://127.0.0.1:{ui_port}", codec=codec_url, succeeded=succeeded, reverted=reverted)
    finally:
        await env.shutdown()


async def sign_in(page: Page, stack: Stack, token: str) -> str:
    """docs/security.md, step 1: sign this browser in at the codec server."""
    await page.goto(f"{stack.codec}/login")
    await page.fill("input[name=token]", token)
    await page.click("form[action='/login'] button[type=submit]")
    return await page.inner_text("body")


async def use_codec_server(page: Page, stack: Stack) -> None:
    """docs/security.md, step 2: the UI's codec setting, with cross-origin credentials."""
    await page.goto(f"{stack.ui}/namespaces/default/workflows")
    await page.click("[data-testid^=data-encoder-status]")
    await page.click("#use-local-endpoint-radio")
    await page.fill("#data-encoder-endpoint-input", stack.codec)
    toggle = page.locator("#pass-access-credentials")
    if not await toggle.is_checked():
        await page.get_by_text("Include cross-origin credentials").click()
    assert await toggle.is_checked()
    await page.locator("[data-testid=confirm-modal-button]:visible").click()


async def open_workflow(page: Page, stack: Stack, server_id: str) -> None:
    await page.goto(f"{stack.ui}/namespaces/default/workflows/migrate-{server_id}")
    await page.get_by_role("heading", name="Input").first.wait_for(timeout=30_000)


async def test_decoded_input_and_result_of_a_finished_migration(stack: Stack) -> None:
    async with chromium() as browser:
        page = await (await browser.new_context()).new_page()
        assert "signed in" in await sign_in(page, stack, TOKEN)
        await use_codec_server(page, stack)
        try:
            await open_workflow(page, stack, stack.succeeded)
            await page.get_by_text("moved from host1 to host2").first.wait_for(timeout=30_000)
            text = await page.locator("body").inner_text()
        finally:
            await page.screenshot(path=str(artifacts_dir(SHOTS) / "decoded-migration.png"), full_page=True)
    assert f'"resource_id": "{stack.succeeded}"' in text or f'"resource_id":"{stack.succeeded}"' in text
    assert '"destination_node": "host2"' in text or '"destination_node":"host2"' in text
    assert "Codec Server could not connect" not in text


async def test_a_watcher_outcome_filter_lists_exactly_the_reverted_migration(stack: Stack) -> None:
    async with chromium() as browser:
        page = await (await browser.new_context()).new_page()
        query = quote('WatcherOutcome = "REVERTED"')
        await page.goto(f"{stack.ui}/namespaces/default/workflows?query={query}")
        try:
            await page.locator("a", has_text=re.compile(r"migrate-[0-9a-f-]{36}")).first.wait_for(timeout=30_000)
            listed = set(re.findall(r"migrate-[0-9a-f-]{36}", await page.locator("body").inner_text()))
        finally:
            await page.screenshot(path=str(artifacts_dir(SHOTS) / "outcome-reverted.png"), full_page=True)
    assert listed == {f"migrate-{stack.reverted}"}


async def test_with_a_wrong_token_payloads_stay_encrypted_and_the_page_says_why(stack: Stack) -> None:
    async with chromium() as browser:
        page = await (await browser.new_context()).new_page()
        refused = await sign_in(page, stack, "wrong-" + "y" * 30)
        await page.screenshot(path=str(artifacts_dir(SHOTS) / "sign-in-refused.png"))
        await use_codec_server(page, stack)
        try:
            await open_workflow(page, stack, stack.succeeded)
            await page.locator("text=Codec Server could not connect >> visible=true").first.wait_for(timeout=30_000)
            text = await page.locator("body").inner_text()
        finally:
            await page.screenshot(path=str(artifacts_dir(SHOTS) / "wrong-token.png"), full_page=True)
    assert "token refused" in refused.lower()
    assert "moved from host1 to host2" not in text
    assert '"resource_id"' not in text

"""Headless Chromium from Debian's packages, driven by Playwright (no browser download)."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from playwright.async_api import Browser, async_playwright

REPO = Path(__file__).resolve().parents[2]
#: Flags for a closed network: no background fetches, no sandbox as root.
CHROMIUM_ARGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
)


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    assert path, "chromium not found: install Debian's 'chromium' package (scripts/bootstrap does, as root)"
    return path


def artifacts_dir(name: str) -> Path:
    """Where a test leaves its screenshots (``WATCHER_TEMPORAL_TEST_ARTIFACTS``, default build/test-artifacts)."""
    root = Path(os.environ.get("WATCHER_TEMPORAL_TEST_ARTIFACTS") or REPO / "build" / "test-artifacts")
    path = root / name
    path.mkdir(parents=True, exist_ok=True)
    return path


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium_path(), args=list(CHROMIUM_ARGS))
        try:
            yield browser
        finally:
            await browser.close()

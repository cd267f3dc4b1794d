"""Headless Chromium for the browser tests: one way to open a page and
watch it (every URL it asked for, every script error), and the rule that
CI fails, not skips, when Chromium cannot start."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from lgsp.testing import fixtures

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
"""Screenshots a browser test leaves for people to look at."""
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def unavailable(reason: str) -> NoReturn:
    fixtures.unavailable(f"Chromium cannot start: {reason}")


@dataclass
class Watched:
    """An open page, and what it did."""

    page: Any  # playwright's Page
    requested: list[str] = field(default_factory=list)
    """Every URL the page asked for."""
    errors: list[str] = field(default_factory=list)
    """Every uncaught script error."""
    console_errors: list[str] = field(default_factory=list)
    """Every error the console showed (a refused resource, a policy)."""

    def hosts(self) -> set[str | None]:
        from urllib.parse import urlsplit

        return {urlsplit(u).hostname for u in self.requested if not u.startswith("data:")}


@contextlib.asynccontextmanager
async def chromium_page(**context: Any) -> AsyncIterator[Watched]:
    """A page of a fresh headless Chromium (1280 by 900 unless ``context``
    says otherwise), watched; the browser closes with the block."""
    try:
        from playwright.async_api import Error, async_playwright
    except ImportError as exc:  # pragma: no cover - playwright is a test dependency
        unavailable(str(exc))
    async with async_playwright() as pw:
        try:
            browser = await pw.chromium.launch(
                executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
            )
        except Error as exc:
            unavailable(str(exc).splitlines()[0])
        try:
            made = await browser.new_context(
                **({"viewport": {"width": 1280, "height": 900}} | context)
            )
            watched = Watched(await made.new_page())
            made.on("request", lambda r: watched.requested.append(r.url))
            watched.page.on("pageerror", lambda e: watched.errors.append(str(e)))
            watched.page.on(
                "console",
                lambda m: watched.console_errors.append(m.text) if m.type == "error" else None,
            )
            yield watched
        finally:
            await browser.close()

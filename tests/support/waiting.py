"""Waiting for what happens elsewhere (another connection, another
gateway, a broker) without sleeping a fixed time: poll until it holds,
failing with what was awaited once the bound is reached."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable


async def eventually(
    check: Callable[[], bool | Awaitable[bool]],
    what: str,
    timeout: float = 10.0,
    interval: float = 0.02,
) -> None:
    """Poll ``check`` (plain or async) until it holds; fail after ``timeout``
    seconds saying ``what`` never happened."""
    deadline = time.monotonic() + timeout
    while True:
        held = check()
        if inspect.isawaitable(held):
            held = await held
        if held:
            return
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        await asyncio.sleep(interval)

"""The server's life (lgsp/server.py): what it does to the process once
ready, and undoes when it stops."""

from __future__ import annotations

import asyncio
import gc

from lgsp.server import run
from lgsp.transport import create_transport
from tests.support.echo import registry


async def test_what_start_up_built_is_left_out_of_collections_while_it_serves() -> None:
    # A full collection traversing the start-up heap paused every call in
    # flight (70-180 ms on the embedded bus); once ready that heap is frozen,
    # and given back to the collector when the server stops.
    stop = asyncio.Event()
    frozen_when_ready: list[int] = []

    def ready() -> None:
        frozen_when_ready.append(gc.get_freeze_count())
        stop.set()

    gc.unfreeze()
    async with asyncio.timeout(10):
        await run(
            transport=create_transport("memory"), registry=registry(), on_ready=ready, stop=stop
        )
    [frozen] = frozen_when_ready
    assert frozen > 0
    assert gc.get_freeze_count() == 0

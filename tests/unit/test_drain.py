"""The gateway's drain: answers still arriving while it stops close their
connection after them, and the drain ends as soon as no connection is
left, or once it has waited its bound."""

from __future__ import annotations

import asyncio

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from lgsp.gateway.drain import Drain


async def _hello(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


async def test_answers_while_draining_close_their_connection() -> None:
    drain = Drain()
    app = web.Application(middlewares=[drain.middleware])
    app.router.add_get("/", _hello)
    async with TestClient(TestServer(app)) as client:
        kept = await client.get("/")
        assert kept.headers.get("Connection") != "close"
        drain.draining = True
        closed = await client.get("/")
        assert closed.status == 200
        assert closed.headers["Connection"] == "close"
    assert drain.in_flight == 0


async def test_the_drain_ends_when_the_last_connection_closes() -> None:
    drain = Drain()
    open_connections = [1]

    async def close_soon() -> None:
        await asyncio.sleep(0)
        open_connections[0] = 0

    asyncio.get_running_loop().create_task(close_soon())
    await asyncio.wait_for(drain.drain(lambda: open_connections[0], limit=30, quiet=30), 5)
    assert drain.draining


async def test_a_silent_connection_does_not_hold_the_stop_beyond_its_bound() -> None:
    drain = Drain()
    # One connection that never closes and never sends: the bound ends the drain.
    await asyncio.wait_for(drain.drain(lambda: 1, limit=0.05, quiet=30), 5)

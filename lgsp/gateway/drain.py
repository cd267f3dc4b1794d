"""Stopping without dropping a call: the gateway's graceful drain.

HTTP/1.1 keeps connections open between requests, so a server that closes
its connections the moment it is told to stop resets the ones whose next
request is already on the wire: their callers get no answer and cannot
know whether the call was done. On stop the gateway therefore first stops
listening (a new connection is refused, which a caller knows was never
sent), says not ready, and answers every request still arriving on an open
connection as usual but with ``Connection: close``; it closes the last
connections only once none is busy and none has sent anything for a quiet
moment, or when the drain's bound is reached.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import structlog
from aiohttp import web

log = structlog.get_logger("lgsp.gateway")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

QUIET_S = 0.5
"""How long every open connection must have been silent before the drain
closes it: longer than a busy caller's pause between two requests."""


class Drain:
    """The requests in flight, and whether the gateway is stopping."""

    def __init__(self) -> None:
        self.draining = False
        self.in_flight = 0
        self._last = time.monotonic()
        self._idle = asyncio.Event()
        self._idle.set()

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        self.in_flight += 1
        self._idle.clear()
        try:
            response = await handler(request)
            if self.draining:
                # Answered in full, then this connection closes: the caller's
                # next request opens a new one, which is refused at once.
                response.force_close()
            return response
        finally:
            self.in_flight -= 1
            self._last = time.monotonic()
            if self.in_flight == 0:
                self._idle.set()

    async def drain(
        self, connections: Callable[[], int], *, limit: float, quiet: float = QUIET_S
    ) -> None:
        """Stop keeping connections alive, and return when ``connections()``
        (those still open) is none, or when nothing is in flight and nothing
        arrived for ``quiet`` seconds, or after ``limit`` seconds."""
        self.draining = True
        started = time.monotonic()
        deadline = started + limit
        while connections() > 0:
            now = time.monotonic()
            if now >= deadline:
                break
            if self.in_flight:
                # A call in flight: wait for it (within the bound), not a tick.
                try:
                    async with asyncio.timeout(deadline - now):
                        await self._idle.wait()
                except TimeoutError:
                    break
                continue
            silent = now - self._last
            if silent >= quiet:
                break
            await asyncio.sleep(min(quiet - silent, deadline - now, 0.05))
        log.info(
            "gateway.drained",
            seconds=round(time.monotonic() - started, 3),
            in_flight=self.in_flight,
            connections=connections(),
        )

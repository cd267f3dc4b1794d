"""Peer of the AMQP case: an aiohttp front calling FastStream's
``broker.request`` (RPC over RabbitMQ's direct reply-to), answered by a
FastStream subscriber in another process, on the same broker and the same
load as lgsp's amqp case. FastStream is the framework the adapter SDK takes
its shape from (STYLE.md), used as its documentation shows: no auth, no
contract check beyond the subscriber's typed body, no envelope.

    python -m benchmarks.faststream_rpc consumer --amqp-url URL --exchange exchange.json
    python -m benchmarks.faststream_rpc server --amqp-url URL --port 8083
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import orjson
from aiohttp import web
from faststream.rabbit import RabbitBroker, RabbitQueue

from benchmarks import rpc_main
from benchmarks.exchange import PATH

QUEUE = RabbitQueue("lgsp-bench.faststream", durable=True)
# Warnings and errors only (to the log the run shows when a case fails): a
# broker that cannot connect or consume says why, and the hot path logs nothing.
_LOGGER = logging.getLogger("lgsp-bench.faststream")
TIMEOUT_S = 10.0

_broker_key = web.AppKey("broker", RabbitBroker)


def make_app(amqp_url: str) -> web.Application:
    async def broker(app: web.Application) -> AsyncIterator[None]:
        connected = RabbitBroker(amqp_url, logger=_LOGGER)
        await connected.start()
        app[_broker_key] = connected
        yield
        await connected.stop()

    async def lookup(request: web.Request) -> web.Response:
        payload = orjson.loads(await request.read())
        if not isinstance(payload, dict):
            raise web.HTTPBadRequest(text="body must be a JSON object")
        try:
            answer = await request.app[_broker_key].request(payload, queue=QUEUE, timeout=TIMEOUT_S)
        except TimeoutError:
            raise web.HTTPGatewayTimeout() from None
        return web.Response(body=answer.body, content_type="application/json")

    async def readyz(request: web.Request) -> web.Response:
        # Ready once a consumer serves the queue, like the other cases.
        declared = await request.app[_broker_key].declare_queue(QUEUE)
        consumers = declared.declaration_result.consumer_count or 0
        return web.json_response({"consumers": consumers}, status=200 if consumers else 503)

    app = web.Application()
    app.cleanup_ctx.append(broker)
    app.router.add_post(PATH, lookup)
    app.router.add_get("/readyz", readyz)
    return app


async def consume(amqp_url: str, response: dict[str, Any], stop: asyncio.Event) -> None:
    """Serve the queue with a FastStream subscriber until ``stop``."""
    broker = RabbitBroker(amqp_url, logger=_LOGGER)

    @broker.subscriber(QUEUE)
    async def lookup(request: dict[str, Any]) -> dict[str, Any]:
        return response

    await broker.start()
    try:
        await stop.wait()
    finally:
        await broker.stop()


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    rpc_main.main(__doc__ or "", make_app, consume)


if __name__ == "__main__":
    main()

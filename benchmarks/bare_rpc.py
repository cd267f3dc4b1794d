"""Floor of the AMQP case: bare aiohttp -> aio-pika direct reply-to RPC -> a
consumer in another process.

Written the way a competent engineer would write RPC over RabbitMQ by hand,
with the same broker-side shape as lgsp's amqp transport: one durable queue
reached through the default exchange, replies on ``amq.rabbitmq.reply-to``
consumed no-ack on the publishing channel, a correlation-id -> Future map,
no publisher confirms on RPC, prefetch 64 and an ack after each reply on the
consumer side. No auth, no contract check, no envelope, no logging.

    python -m benchmarks.bare_rpc consumer --amqp-url URL --exchange exchange.json
    python -m benchmarks.bare_rpc server --amqp-url URL --port 8082
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from typing import Any

import aio_pika
import orjson
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage
from aiohttp import web

from benchmarks import rpc_main
from benchmarks.exchange import PATH

QUEUE = "lgsp-bench.rpc"
REPLY_TO = "amq.rabbitmq.reply-to"
PREFETCH = 64
TIMEOUT_S = 10.0

_channel_key = web.AppKey("channel", AbstractChannel)


def make_app(amqp_url: str) -> web.Application:
    pending: dict[str, asyncio.Future[bytes]] = {}
    ids = itertools.count()

    async def on_reply(message: AbstractIncomingMessage) -> None:
        future = pending.pop(message.correlation_id or "", None)
        if future is not None and not future.done():
            future.set_result(message.body)

    async def broker(app: web.Application) -> AsyncIterator[None]:
        connection = await aio_pika.connect(amqp_url)
        channel = await connection.channel(publisher_confirms=False)
        await channel.declare_queue(QUEUE, durable=True)
        # Direct reply-to: consume the pseudo-queue before the first publish.
        replies = await channel.get_queue(REPLY_TO, ensure=False)
        await replies.consume(on_reply, no_ack=True)
        app[_channel_key] = channel
        yield
        for future in pending.values():
            future.cancel()
        await connection.close()

    async def lookup(request: web.Request) -> web.Response:
        body = await request.read()
        payload = orjson.loads(body)
        if not isinstance(payload, dict):
            raise web.HTTPBadRequest(text="body must be a JSON object")
        correlation_id = str(next(ids))
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        pending[correlation_id] = future
        try:
            await request.app[_channel_key].default_exchange.publish(
                aio_pika.Message(
                    body,
                    content_type="application/json",
                    correlation_id=correlation_id,
                    reply_to=REPLY_TO,
                ),
                routing_key=QUEUE,
            )
            async with asyncio.timeout(TIMEOUT_S):
                reply = await future
        except TimeoutError:
            raise web.HTTPGatewayTimeout() from None
        finally:
            pending.pop(correlation_id, None)
        return web.Response(body=reply, content_type="application/json")

    async def readyz(request: web.Request) -> web.Response:
        # Ready once a consumer serves the queue, like lgsp's providers_online.
        queue = await request.app[_channel_key].declare_queue(QUEUE, durable=True)
        consumers = queue.declaration_result.consumer_count or 0
        status = 200 if consumers >= 1 else 503
        return web.json_response({"consumers": consumers}, status=status)

    app = web.Application()
    app.cleanup_ctx.append(broker)
    app.router.add_post(PATH, lookup)
    app.router.add_get("/readyz", readyz)
    return app


async def consume(amqp_url: str, response: dict[str, Any], stop: asyncio.Event) -> None:
    """Serve QUEUE until ``stop``: parse each request, answer the response."""

    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=False)
        await channel.set_qos(prefetch_count=PREFETCH)
        queue = await channel.declare_queue(QUEUE, durable=True)

        async def on_request(message: AbstractIncomingMessage) -> None:
            orjson.loads(message.body)
            await channel.default_exchange.publish(
                aio_pika.Message(
                    orjson.dumps(response),
                    content_type="application/json",
                    correlation_id=message.correlation_id,
                ),
                routing_key=message.reply_to or "",
                # RabbitMQ 3.10 answers basic.return for a mandatory publish to a
                # reply-to name even though it delivers it; a reply needs no return.
                mandatory=False,
            )
            await message.ack()

        tag = await queue.consume(on_request)
        await stop.wait()
        await queue.cancel(tag)
        # The queue is the benchmark's own: leave a shared broker as it was.
        await queue.delete(if_unused=False, if_empty=False)


def main() -> None:
    rpc_main.main(__doc__ or "", make_app, consume)


if __name__ == "__main__":
    main()

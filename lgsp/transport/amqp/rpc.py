"""The gateway side of a request: one publish to the service version's queue
over direct reply-to (no reply queue, no confirm), and the reply matched to
its waiting request by correlation id. This is the product's hot path: every
request costs one write and one future, nothing more.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Generator

from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractRobustChannel
from pamqp.commands import Basic

from lgsp.envelope import H_STATUS, Envelope, Reply
from lgsp.errors import ServiceTimeout, ServiceUnavailable
from lgsp.transport.amqp.connection import Link, log
from lgsp.transport.amqp.presence import Presence
from lgsp.transport.amqp.topology import BROKER_ERRORS, REPLY_TO, BrokerUnreachable, service_queue


class Rpc:
    """Sends requests and routes their replies back."""

    def __init__(self, link: Link, presence: Presence) -> None:
        self._link = link
        self._presence = presence
        # Requests waiting for their reply, by correlation id.
        self._pending: dict[str, asyncio.Future[Reply]] = {}
        self._correlation = itertools.count()

    async def listen(self, channel: AbstractRobustChannel) -> None:
        """Take replies on the channel that publishes requests."""
        # Direct reply-to: consume the pseudo-queue before the first publish,
        # on the channel that publishes. Declared (passively) rather than just
        # named, so the robust channel consumes it again after a reconnection.
        replies = await channel.declare_queue(REPLY_TO, passive=True)
        await replies.consume(self._on_reply, no_ack=True)
        # Replies come back on this channel only: when it closes (with the
        # connection or alone), nobody can answer what is pending on it.
        channel.close_callbacks.add(self._on_rpc_closed)

    async def request(self, envelope: Envelope) -> Reply:
        link = self._link
        channels = link.channels
        if channels is None or not link.ready():
            raise BrokerUnreachable("the message broker is unreachable")
        if not await self._presence.online(envelope.service, envelope.version):
            raise ServiceUnavailable(
                f"no provider online for {envelope.service} v{envelope.version}"
            )
        remaining = envelope.remaining()
        if remaining <= 0:
            raise ServiceTimeout(f"{envelope.service} did not answer before the deadline")
        correlation_id = format(next(self._correlation), "x")
        reply: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._pending[correlation_id] = reply
        properties = Basic.Properties(
            content_type="application/json",
            headers=envelope.headers(),  # type: ignore[arg-type]  # str values are field values
            message_id=envelope.request_id,
            correlation_id=correlation_id,
            reply_to=REPLY_TO,
            # The broker drops (dead-letters) it when nobody took it in time.
            expiration=str(max(1, int(remaining * 1000))),
        )
        with link.working():
            try:
                async with asyncio.timeout(remaining):
                    # No confirm, no mandatory flag: the presence check above
                    # already knows a consumer is there; one write per request.
                    channel = await channels.rpc.get_underlay_channel()
                    await channel.basic_publish(
                        envelope.body,
                        routing_key=service_queue(envelope.service, envelope.version),
                        properties=properties,
                    )
                    return await reply
            except TimeoutError:
                raise ServiceTimeout(
                    f"{envelope.service} did not answer before the deadline"
                ) from None
            except BROKER_ERRORS as exc:
                raise BrokerUnreachable(
                    f"lost the message broker while calling {envelope.service}"
                ) from exc
            finally:
                del self._pending[correlation_id]
                reply.cancel()

    def _on_reply(self, message: AbstractIncomingMessage) -> Awaitable[None]:
        # Synchronous on purpose: aio-pika runs a coroutine callback in a task of
        # its own, one more task per request on the hot path.
        future = self._pending.get(message.correlation_id or "")
        if future is not None and not future.done():
            status = message.headers.get(H_STATUS)
            if isinstance(status, int):
                future.set_result(Reply(status, message.body))
            else:
                log.error("amqp.reply_without_status", correlation_id=message.correlation_id)
                future.set_result(Reply.failed("reply without a status"))
        return _DONE

    def _on_rpc_closed(self, _channel: AbstractChannel | None, exc: BaseException | None) -> None:
        if not self._link.closing:
            self.fail_pending("lost the message broker")

    def fail_pending(self, reason: str) -> None:
        """Fail every request still waiting: its reply can no longer come."""
        for future in self._pending.values():
            if not future.done():
                future.set_exception(BrokerUnreachable(reason))


class _Done:
    """An awaitable that is already done: what a synchronous consumer callback
    returns to satisfy aio-pika's callback type."""

    __slots__ = ()

    def __await__(self) -> Generator[None, None, None]:
        yield from ()


_DONE = _Done()

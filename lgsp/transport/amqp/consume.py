"""The subscriber side: a durable quorum queue per subscriber and topic, bound
to the events exchange, its events handed to the handler one at a time and
delivered again (with a growing delay) until they are dead-lettered.
"""

from __future__ import annotations

import asyncio

from aio_pika.abc import AbstractIncomingMessage

from lgsp.envelope import Event, new_id
from lgsp.transport.amqp.connection import Link, log, settle, text_headers
from lgsp.transport.amqp.presence import Presence, Subscribed
from lgsp.transport.amqp.queues import Queues
from lgsp.transport.amqp.topology import (
    EVENTS,
    HEARTBEAT,
    subscriber_queue,
    subscriber_queue_arguments,
)
from lgsp.transport.base import EventHandler


class Consumer:
    """Delivers events to this process's subscribers; ``max_attempts`` and
    ``retry_delay`` as :class:`~lgsp.transport.amqp.AmqpTransport` takes them."""

    def __init__(
        self,
        link: Link,
        presence: Presence,
        queues: Queues,
        *,
        max_attempts: int,
        retry_delay: float,
    ) -> None:
        self._link = link
        self._presence = presence
        self._queues = queues
        self._max_attempts = max_attempts
        self._retry_delay = retry_delay

    async def subscribe(self, topic: str, subscriber: str, handler: EventHandler) -> None:
        channels = self._link.require_channels()
        queue = await self._queues.declare(
            channels.subscribe,
            subscriber_queue(subscriber, topic),
            "subscriber",
            subscriber_queue_arguments(self._max_attempts),
        )
        await queue.bind(EVENTS, routing_key=topic)

        async def on_event(message: AbstractIncomingMessage) -> None:
            await self._link.unbroken(
                self._handle_event(subscriber, handler, message), "lgsp-amqp-event"
            )

        tag = await queue.consume(on_event)
        self._presence.subscribed.append(Subscribed(topic, subscriber, queue, tag))
        log.info("amqp.subscribed", topic=topic, subscriber=subscriber)
        await self._presence.announce(HEARTBEAT)

    async def _handle_event(
        self, subscriber: str, handler: EventHandler, message: AbstractIncomingMessage
    ) -> None:
        with self._link.working():
            try:
                event = Event.from_headers(
                    message.message_id or new_id(),
                    message.correlation_id or "",
                    text_headers(message),
                    message.body,
                )
            except (KeyError, ValueError, TypeError):
                log.error(
                    "amqp.event_malformed", subscriber=subscriber, message_id=message.message_id
                )
                await settle(message.reject(requeue=False))  # to lgsp.dead-letters
                return
            try:
                await handler(event)
            except Exception:
                count = message.headers.get("x-delivery-count")
                attempt = (count if isinstance(count, int) else 0) + 1
                log.warning(
                    "event.delivery_failed",
                    topic=event.topic,
                    subscriber=subscriber,
                    event_id=event.event_id,
                    attempt=attempt,
                    exc_info=True,
                )
                if attempt < self._max_attempts:
                    if not self._link.closing:
                        await asyncio.sleep(self._retry_delay * 2 ** (attempt - 1))
                else:
                    # This nack exceeds the queue's delivery limit.
                    log.error(
                        "event.dead_lettered",
                        topic=event.topic,
                        subscriber=subscriber,
                        event_id=event.event_id,
                    )
                await settle(message.nack(requeue=True))
                return
            await settle(message.ack())

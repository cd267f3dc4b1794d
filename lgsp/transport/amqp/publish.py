"""Publishing events: persistent, mandatory, and confirmed by the broker
before :meth:`Publisher.publish` returns, so an accepted event is never lost.
A channel the broker refuses (nacks) events on is replaced by a new one.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import aio_pika
from aio_pika.abc import AbstractRobustExchange
from aio_pika.exceptions import DeliveryError
from pamqp.commands import Basic

from lgsp.envelope import Event
from lgsp.errors import ServiceUnavailable
from lgsp.transport.amqp.connection import Link, log
from lgsp.transport.amqp.topology import BROKER_ERRORS, EVENTS, BrokerUnreachable, Declared

RENEW_EVERY_S = 1.0
"""The events channel is replaced at most this often."""


class Publisher:
    """Publishes events to the events exchange, through the confirming
    events channel."""

    def __init__(self, link: Link, *, broker_timeout: float) -> None:
        self._link = link
        self._broker_timeout = broker_timeout
        self._exchange: AbstractRobustExchange | None = None
        self._renewed = 0.0
        self.renewals = 0
        """Events channels replaced after a nack, since start."""

    def use(self, declared: Declared) -> None:
        self._exchange = declared.events

    async def publish(self, event: Event) -> None:
        exchange = self._exchange
        if exchange is None or not self._link.ready():
            raise BrokerUnreachable("the message broker is unreachable")
        message = aio_pika.Message(
            event.body,
            content_type="application/json",
            headers=event.headers(),  # type: ignore[arg-type]  # str values are field values
            message_id=event.event_id,
            correlation_id=event.request_id,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        )
        try:
            async with asyncio.timeout(self._broker_timeout):
                # Confirmed means stored in every bound subscriber queue, or in
                # lgsp.events.unrouted when there is none: never dropped.
                await exchange.publish(message, routing_key=event.topic, mandatory=True)
        except TimeoutError:
            raise ServiceUnavailable("the message broker did not confirm the event") from None
        except DeliveryError as exc:  # nacked, or returned as unroutable
            log.error("amqp.publish_refused", topic=event.topic, event_id=event.event_id)
            if isinstance(exc.frame, Basic.Nack):
                self._renew_soon()
            raise ServiceUnavailable("the message broker refused the event") from exc
        except BROKER_ERRORS as exc:
            log.warning(
                "amqp.publish_failed", topic=event.topic, event_id=event.event_id, error=repr(exc)
            )
            raise BrokerUnreachable("the message broker did not accept the event") from exc

    def _renew_soon(self) -> None:
        # A nack says the queues did not take the event. On RabbitMQ 3.10 a
        # channel opened while a cluster's quorum queues were electing new
        # leaders (a node was lost) nacks every event from then on; a new
        # channel publishes again. Any other cause costs a channel a second.
        if time.monotonic() - self._renewed < RENEW_EVERY_S or self._link.closing:
            return
        self._renewed = time.monotonic()
        self._link.spawn(self._renew(), "lgsp-amqp-renew-events")

    async def _renew(self) -> None:
        link = self._link
        connection, channels = link.connection, link.channels
        if connection is None or channels is None:
            return
        old = channels.events
        try:
            async with asyncio.timeout(self._broker_timeout):
                fresh = await link.open_channel(connection, confirms=True)
                exchange = await fresh.declare_exchange(EVENTS, passive=True)
        except (TimeoutError, *BROKER_ERRORS):
            log.warning("amqp.events_channel_renew_failed", exc_info=True)
            return
        channels.events, self._exchange = fresh, exchange
        self.renewals += 1
        log.info("amqp.events_channel_renewed")
        with contextlib.suppress(TimeoutError, *BROKER_ERRORS):
            async with asyncio.timeout(self._broker_timeout):
                await old.close()

"""Publishing events: persistent, mandatory, and confirmed by the broker
before :meth:`Publisher.publish` returns, so an accepted event is never lost.
"""

from __future__ import annotations

import asyncio

import aio_pika
from aio_pika.abc import AbstractRobustExchange
from aio_pika.exceptions import DeliveryError

from lgsp.envelope import Event
from lgsp.errors import ServiceUnavailable
from lgsp.transport.amqp.connection import Link, log
from lgsp.transport.amqp.topology import BROKER_ERRORS, BrokerUnreachable, Declared


class Publisher:
    """Publishes events to the events exchange, through the confirming
    events channel."""

    def __init__(self, link: Link, *, broker_timeout: float) -> None:
        self._link = link
        self._broker_timeout = broker_timeout
        self._exchange: AbstractRobustExchange | None = None

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
            raise ServiceUnavailable("the message broker refused the event") from exc
        except BROKER_ERRORS as exc:
            log.warning(
                "amqp.publish_failed", topic=event.topic, event_id=event.event_id, error=repr(exc)
            )
            raise BrokerUnreachable("the message broker did not accept the event") from exc

"""What lgsp looks like on the broker: the names of its exchanges, queues and
control routing keys, the arguments every declarer must agree on, and the
declarations each process makes when it connects (so either side may start
first). Also what every part shares about the broker: the errors it raises,
and the exception that says it cannot be reached.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import aio_pika
from aio_pika.abc import AbstractRobustChannel, AbstractRobustExchange, AbstractRobustQueue
from aio_pika.exceptions import AMQPError, ChannelInvalidStateError
from pamqp.common import FieldValue
from yarl import URL

from lgsp.errors import ServiceUnavailable

EVENTS = "lgsp.events"
UNROUTED = "lgsp.events.unrouted"
DLX = "lgsp.dlx"
DEAD_LETTERS = "lgsp.dead-letters"
CONTROL = "lgsp.control"
REPLY_TO = "amq.rabbitmq.reply-to"

SERVICE_QUEUE_ARGUMENTS: dict[str, FieldValue] = {"x-dead-letter-exchange": DLX}
"""Arguments of every service queue (whoever declares it must use the same)."""

DEAD_LETTERS_ARGUMENTS: dict[str, FieldValue] = {"x-max-length": 100_000}
"""Arguments of the dead-letter queue (the oldest are dropped beyond this)."""

HEARTBEAT = "provider.heartbeat"
GONE = "provider.gone"
QUERY = "registry.query"
CONTRACTS = "registry.contracts"

QueueKind = Literal["service", "subscriber", "dead-letter"]

# What can go wrong talking to the broker: the connection or channel is down
# or closing, or the broker refused an operation. (Timeouts are caught apart.)
BROKER_ERRORS = (AMQPError, ChannelInvalidStateError, ConnectionError)


class BrokerUnreachable(ServiceUnavailable, ConnectionError):
    """The broker cannot be reached (or was lost): a 503 like any
    :class:`~lgsp.errors.ServiceUnavailable`, and a :class:`ConnectionError`,
    so retry loops written against the standard library (the CLI's) retry it."""


def service_queue(service: str, version: int) -> str:
    """The durable queue that carries requests for one service version."""
    return f"lgsp.svc.{service}.v{version}"


def subscriber_queue(subscriber: str, topic: str) -> str:
    """The durable queue that keeps one subscriber's events of one topic."""
    return f"lgsp.sub.{subscriber}.{topic}"


def subscriber_queue_arguments(max_attempts: int) -> dict[str, FieldValue]:
    """Arguments of a subscriber's queue, for events tried ``max_attempts``
    times before they are dead-lettered."""
    return {
        "x-queue-type": "quorum",
        "x-dead-letter-exchange": DLX,
        # The broker counts redeliveries: the first delivery plus
        # max_attempts - 1 retries, then the event is dead-lettered.
        "x-delivery-limit": max_attempts - 1,
    }


def masked(url: str) -> str:
    """The URL with its password hidden, fit for a log line."""
    parsed = URL(url)
    return str(parsed.with_password("***")) if parsed.password else url


@dataclass(frozen=True, slots=True)
class Declared:
    """What the declarations hand to the parts that publish and listen."""

    events: AbstractRobustExchange
    """The events exchange, as the (confirming) events channel sees it."""
    control: AbstractRobustExchange
    """The control exchange, for presence and contract announcements."""
    presence: AbstractRobustQueue
    """This process's own queue of control messages, bound to every key."""


async def declare(
    control: AbstractRobustChannel, events: AbstractRobustChannel, transport_id: str
) -> Declared:
    """Declare the exchanges and queues every process shares (idempotent, on
    the control channel) and this process's presence queue."""
    dlx = await control.declare_exchange(DLX, aio_pika.ExchangeType.FANOUT, durable=True)
    # Expired requests are dead-lettered too; keep the newest ones only, so
    # the queue stays an inspection window instead of growing forever.
    dead = await control.declare_queue(DEAD_LETTERS, durable=True, arguments=DEAD_LETTERS_ARGUMENTS)
    await dead.bind(dlx, routing_key="")
    unrouted = await control.declare_exchange(UNROUTED, aio_pika.ExchangeType.FANOUT, durable=True)
    kept = await control.declare_queue(UNROUTED, durable=True)
    await kept.bind(unrouted, routing_key="")
    await control.declare_exchange(
        EVENTS,
        aio_pika.ExchangeType.TOPIC,
        durable=True,
        arguments={"alternate-exchange": UNROUTED},
    )
    # The events channel publishes through its own exchange object (a
    # passive lookup after the declaration above costs nothing more).
    events_exchange = await events.declare_exchange(EVENTS, passive=True)
    control_exchange = await control.declare_exchange(
        CONTROL, aio_pika.ExchangeType.TOPIC, durable=True
    )
    presence = await control.declare_queue(
        f"lgsp.control.{transport_id}", exclusive=True, auto_delete=True
    )
    for key in (HEARTBEAT, GONE, QUERY, CONTRACTS):
        await presence.bind(control_exchange, routing_key=key)
    return Declared(events_exchange, control_exchange, presence)

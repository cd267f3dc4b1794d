"""What lgsp looks like on the broker: the names of its exchanges, queues and
control routing keys, the arguments every declarer must agree on (by queue
type), and the declarations each process makes when it connects (so either
side may start first). Also what every part shares about the broker: the
errors it raises, the exception that says it cannot be reached, and the one
that says a queue exists with another type.

Queue types. Subscriber queues are always quorum queues: the broker counts
each event's deliveries (``x-delivery-count``) and dead-letters it past
``x-delivery-limit``, the one retry mechanism. Service queues, the dead
letters and the unrouted events are classic queues by default, or quorum
queues (``queue_type="quorum"``, ``LGSP_AMQP_QUEUE_TYPE=quorum``), replicated
on a cluster's nodes so that a node's loss loses none of them. Every
argument declared here is one quorum queues take on RabbitMQ 3.10 and later
(a dead-letter exchange, ``x-max-length`` whose overflow drops the oldest,
``x-delivery-limit``); requests expire by per-message TTL, which quorum
queues honour as classic ones do. Presence queues stay classic: they are
exclusive to their connection, which a quorum queue cannot be, and are made
again wherever the connection comes back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

import aio_pika
from aio_pika.abc import AbstractRobustChannel, AbstractRobustExchange, AbstractRobustQueue
from aio_pika.exceptions import AMQPError, ChannelInvalidStateError, ChannelPreconditionFailed
from pamqp.common import FieldValue

from lgsp.errors import ServiceUnavailable

EVENTS = "lgsp.events"
UNROUTED = "lgsp.events.unrouted"
DLX = "lgsp.dlx"
DEAD_LETTERS = "lgsp.dead-letters"
CONTROL = "lgsp.control"
REPLY_TO = "amq.rabbitmq.reply-to"

QueueType = Literal["classic", "quorum"]
QUEUE_TYPES: tuple[QueueType, ...] = ("classic", "quorum")
QUEUE_TYPE_ENV = "LGSP_AMQP_QUEUE_TYPE"
"""The setting that picks the queue type of service queues, dead letters and
unrouted events (``classic`` or ``quorum``; default ``classic``)."""

DEAD_LETTERS_MAX = 100_000
"""The dead letters kept (the oldest are dropped beyond this)."""

HEARTBEAT = "provider.heartbeat"
GONE = "provider.gone"
QUERY = "registry.query"
CONTRACTS = "registry.contracts"
NOTICE = "notice."
"""The prefix of notices' routing keys: ``notice.<subject>``."""

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


def _typed(queue_type: QueueType, arguments: dict[str, FieldValue]) -> dict[str, FieldValue]:
    # A classic queue is declared without a type: what it was before the
    # setting existed, so the queues of a running deployment stay equivalent.
    return arguments | {"x-queue-type": "quorum"} if queue_type == "quorum" else arguments


def service_queue_arguments(queue_type: QueueType) -> dict[str, FieldValue]:
    """Arguments of every service queue (whoever declares it must use the same)."""
    return _typed(queue_type, {"x-dead-letter-exchange": DLX})


def dead_letters_arguments(queue_type: QueueType) -> dict[str, FieldValue]:
    """Arguments of the dead-letter queue."""
    return _typed(queue_type, {"x-max-length": DEAD_LETTERS_MAX})


def unrouted_arguments(queue_type: QueueType) -> dict[str, FieldValue]:
    """Arguments of the queue of events no subscriber queue took."""
    return _typed(queue_type, {})


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


class QueueTypeMismatch(ServiceUnavailable):
    """A queue lgsp declares exists on the broker with the other type: the
    message names the queue and how to settle it."""

    def __init__(self, queue: str, vhost: str, wanted: str, found: str) -> None:
        self.queue = queue
        rebuild = (
            f"let it drain, delete it (rabbitmqctl delete_queue -p {vhost} {queue}) and start again"
        )
        if queue.startswith("lgsp.sub."):
            why = f"subscriber queues are {wanted} queues: {rebuild}"
        else:
            why = (
                f"this process declares {wanted} queues ({QUEUE_TYPE_ENV}={wanted}): run every "
                f"process of the bus with one {QUEUE_TYPE_ENV}, or, to make it a {wanted} "
                f"queue, {rebuild}"
            )
        super().__init__(
            f"queue {queue!r} (virtual host {vhost!r}) exists as a {found} queue, but {why}"
        )


# PRECONDITION_FAILED - inequivalent arg 'x-queue-type' for queue 'q' in vhost '/':
# received none but current is the value 'quorum' of type 'longstr'
_TYPE_REFUSED = re.compile(
    r"inequivalent arg 'x-queue-type' for queue '(?P<queue>[^']*)' in vhost '(?P<vhost>[^']*)': "
    r"received (?:none|the value '(?P<wanted>\w+)'.*?) but current is "
    r"(?:none|the value '(?P<found>\w+)')"
)


def type_mismatch(exc: BaseException) -> QueueTypeMismatch | None:
    """The mismatch a broker's refusal of a declaration describes, if it is one."""
    if not isinstance(exc, ChannelPreconditionFailed):
        return None
    found = _TYPE_REFUSED.search(str(exc))
    if found is None:
        return None
    return QueueTypeMismatch(
        found["queue"], found["vhost"], found["wanted"] or "classic", found["found"] or "classic"
    )


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
    control: AbstractRobustChannel,
    events: AbstractRobustChannel,
    transport_id: str,
    queue_type: QueueType,
) -> Declared:
    """Declare the exchanges and queues every process shares (idempotent, on
    the control channel) and this process's presence queue."""
    dlx = await control.declare_exchange(DLX, aio_pika.ExchangeType.FANOUT, durable=True)
    # Expired requests are dead-lettered too; keep the newest ones only, so
    # the queue stays an inspection window instead of growing forever.
    dead = await control.declare_queue(
        DEAD_LETTERS, durable=True, arguments=dead_letters_arguments(queue_type)
    )
    await dead.bind(dlx, routing_key="")
    unrouted = await control.declare_exchange(UNROUTED, aio_pika.ExchangeType.FANOUT, durable=True)
    kept = await control.declare_queue(
        UNROUTED, durable=True, arguments=unrouted_arguments(queue_type)
    )
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
    for key in (HEARTBEAT, GONE, QUERY, CONTRACTS, f"{NOTICE}#"):
        await presence.bind(control_exchange, routing_key=key)
    return Declared(events_exchange, control_exchange, presence)

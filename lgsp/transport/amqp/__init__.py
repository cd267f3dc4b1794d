"""The distributed engine: RabbitMQ through aio-pika.

Gateway and adapters run as separate processes, on as many machines as
needed; the broker carries everything between them.

Topology (every process declares it, so either side may start first)::

    default exchange --> lgsp.svc.<service>.v<version>   durable (classic or quorum), one per
                                                         service version, dead letters to lgsp.dlx
    lgsp.events (topic, alternate-exchange lgsp.events.unrouted)
        --<topic>--> lgsp.sub.<subscriber>.<topic>       durable quorum queue per subscriber,
                                                         x-delivery-limit, dead letters to lgsp.dlx
    lgsp.events.unrouted (fanout) --> lgsp.events.unrouted   events no subscriber queue took
    lgsp.dlx (fanout) --> lgsp.dead-letters                  what could not be delivered
    lgsp.control (topic)                                 presence: provider.heartbeat,
                                                         provider.gone, registry.query,
                                                         registry.contracts; notices:
                                                         notice.<subject>

Requests travel over direct reply-to (``amq.rabbitmq.reply-to``): no reply
queue, no publisher confirms, one publish per request. A request carries the
time left before its deadline as its expiration, so a provider that comes back
late never sees a stale request.

Presence: processes that serve or subscribe announce themselves on
``lgsp.control`` every ``heartbeat_interval`` (and say ``provider.gone`` on a
clean close); every transport keeps a table of what it heard, so a gateway
answers 503 at once for a service nobody serves, then serves it as soon as a
provider appears, with no restart and whichever side started first.

Contracts: a provider announces the fingerprint of the contract it was built
against; a gateway announces the fingerprints it publishes
(``registry.contracts``, when it starts and whenever a process asks). A gateway
never counts a provider with another fingerprint online, and a provider that
hears of another fingerprint for what it serves refuses: before consuming
(:meth:`AmqpTransport.serve` raises) or, when it hears later, by cancelling its
consumer, so it never takes requests from the shared queue.

Notices (:class:`~lgsp.transport.base.Broadcasting`): a notice travels on
``lgsp.control`` under ``notice.<subject>`` to every process's control
queue; every listener also hears None when the connection comes up or back
(:mod:`~lgsp.transport.amqp.notices`).

Queue types: ``queue_type="quorum"`` makes service queues, dead letters and
unrouted events quorum queues, replicated on a cluster's nodes (subscriber
queues always are); :mod:`~lgsp.transport.amqp.topology` says what each
declares. A queue found with the other type fails with
:class:`QueueTypeMismatch`, which names it and the fix.

:meth:`AmqpTransport.start` fails with :class:`BrokerUnreachable` (a
:class:`~lgsp.errors.ServiceUnavailable` and a :class:`ConnectionError`) when
the broker cannot be reached, and the caller (the CLI) decides whether to
retry. The URL may name a cluster's nodes
(``amqp://user:pass@host1:5672,host2:5672,host3:5672/vhost``,
:mod:`~lgsp.transport.amqp.nodes`): the transport connects to the first that
answers. Once connected, the connection is robust: it reconnects (to the next
node in turn) and restores every declaration and consumer by itself,
:meth:`AmqpTransport.ready` is False while it is down, and requests and events
meanwhile fail at once with 503.

The package has one module per job, and :class:`AmqpTransport` composes them:
:mod:`~lgsp.transport.amqp.topology` (names, arguments, declarations),
:mod:`~lgsp.transport.amqp.nodes` (a cluster's nodes in one URL, and the
connection that goes round them),
:mod:`~lgsp.transport.amqp.connection` (the link: connection, channels, tasks,
work in progress), :mod:`~lgsp.transport.amqp.rpc` (the gateway's requests),
:mod:`~lgsp.transport.amqp.provider` (serving them),
:mod:`~lgsp.transport.amqp.publish` and :mod:`~lgsp.transport.amqp.consume`
(events out and in), :mod:`~lgsp.transport.amqp.presence` (announcements,
who is online, contract refusals, the adapters' statuses),
:mod:`~lgsp.transport.amqp.notices` (notices to every process) and
:mod:`~lgsp.transport.amqp.queues` (queue statistics).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Coroutine
from typing import Any

from lgsp.envelope import Envelope, Event, Reply
from lgsp.errors import ServiceUnavailable
from lgsp.transport.amqp.connection import Link, connection_name, log
from lgsp.transport.amqp.consume import Consumer
from lgsp.transport.amqp.nodes import masked
from lgsp.transport.amqp.notices import Notices
from lgsp.transport.amqp.presence import Presence
from lgsp.transport.amqp.provider import Provider
from lgsp.transport.amqp.publish import Publisher
from lgsp.transport.amqp.queues import Queues
from lgsp.transport.amqp.rpc import Rpc
from lgsp.transport.amqp.topology import (
    BROKER_ERRORS,
    QUEUE_TYPES,
    BrokerUnreachable,
    QueueType,
    QueueTypeMismatch,
    declare,
    service_queue,
    subscriber_queue,
    type_mismatch,
)

# The wire's names, importable from here by whatever checks the broker against
# them (the deploy definitions are checked against these).
from lgsp.transport.amqp.topology import CONTRACTS as CONTRACTS
from lgsp.transport.amqp.topology import CONTROL as CONTROL
from lgsp.transport.amqp.topology import DEAD_LETTERS as DEAD_LETTERS
from lgsp.transport.amqp.topology import DLX as DLX
from lgsp.transport.amqp.topology import EVENTS as EVENTS
from lgsp.transport.amqp.topology import GONE as GONE
from lgsp.transport.amqp.topology import HEARTBEAT as HEARTBEAT
from lgsp.transport.amqp.topology import QUERY as QUERY
from lgsp.transport.amqp.topology import REPLY_TO as REPLY_TO
from lgsp.transport.amqp.topology import UNROUTED as UNROUTED
from lgsp.transport.amqp.topology import dead_letters_arguments as dead_letters_arguments
from lgsp.transport.amqp.topology import service_queue_arguments as service_queue_arguments
from lgsp.transport.amqp.topology import subscriber_queue_arguments as subscriber_queue_arguments
from lgsp.transport.amqp.topology import unrouted_arguments as unrouted_arguments
from lgsp.transport.base import (
    AdapterStatus,
    EventHandler,
    Fingerprints,
    NoticeListener,
    ProviderHandler,
    ProviderInfo,
    QueueStats,
    Transport,
)

__all__ = [
    "QUEUE_TYPES",
    "AmqpTransport",
    "BrokerUnreachable",
    "QueueType",
    "QueueTypeMismatch",
    "masked",
    "service_queue",
    "subscriber_queue",
]


class AmqpTransport(Transport):
    """RabbitMQ engine; see the module docstring.

    ``prefetch`` bounds the requests one provider consumer handles at once;
    ``heartbeat_interval`` is how often serving processes announce themselves
    and ``provider_ttl`` how long an announcement counts; ``max_attempts`` is
    how many times an event is delivered to a failing subscriber before it is
    dead-lettered (``retry_delay`` doubles between attempts);
    ``reconnect_interval`` paces reconnection after the broker is lost;
    ``broker_timeout`` bounds every wait on the broker outside a request's own
    deadline (connecting, confirms, checks) and ``drain_timeout`` how long
    :meth:`close` waits for work in progress; ``queue_type`` is the type
    of service queues, dead letters and unrouted events (``"classic"`` or
    ``"quorum"``, the same for every process on one broker).
    """

    name = "amqp"

    def __init__(
        self,
        url: str,
        *,
        prefetch: int = 64,
        heartbeat_interval: float = 1.0,
        provider_ttl: float = 3.5,
        max_attempts: int = 5,
        retry_delay: float = 0.05,
        reconnect_interval: float = 1.0,
        broker_timeout: float = 10.0,
        drain_timeout: float = 30.0,
        queue_type: QueueType = "classic",
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if queue_type not in QUEUE_TYPES:
            raise ValueError(f"queue type {queue_type!r}: expected one of {', '.join(QUEUE_TYPES)}")
        self._queue_type: QueueType = queue_type
        self._id = uuid.uuid4().hex[:12]
        # The parts, each owning its state; they share the link, and the ones
        # that consume fill the presence part's tables of what this process offers.
        self._link = Link(
            url,
            transport_id=self._id,
            prefetch=prefetch,
            reconnect_interval=reconnect_interval,
            broker_timeout=broker_timeout,
            drain_timeout=drain_timeout,
        )
        self._queues = Queues(self._link, broker_timeout=broker_timeout)
        self._presence = Presence(
            self._link,
            self._queues,
            heartbeat_interval=heartbeat_interval,
            provider_ttl=provider_ttl,
            broker_timeout=broker_timeout,
            check_contract=self._check_contract,
            status_hooks=lambda: self.status_hooks,
            queue_type=queue_type,
        )
        self._rpc = Rpc(self._link, self._presence)
        self._provider = Provider(
            self._link,
            self._presence,
            self._queues,
            check_contract=self._check_contract,
            queue_type=queue_type,
        )
        self._consumer = Consumer(
            self._link,
            self._presence,
            self._queues,
            max_attempts=max_attempts,
            retry_delay=retry_delay,
        )
        # Events are published apart from requests: persistent and confirmed
        # on a channel of their own, where a request is one unconfirmed write.
        self._publisher = Publisher(self._link, broker_timeout=broker_timeout)
        self._notices = Notices(self._link, broker_timeout=broker_timeout)
        self._presence.on_notice = self._notices.hear

    # -- lifecycle --------------------------------------------------------

    async def start(self) -> None:
        link = self._link
        async with link.start_lock:
            if link.connection is not None:
                return
            connection = await link.connect()
            try:
                channels = await link.open_channels(connection)
                declared = await declare(
                    channels.control, channels.events, self._id, self._queue_type
                )
                self._publisher.use(declared)
                self._notices.use(declared)
                await self._presence.listen(declared)
                await self._rpc.listen(channels.rpc)
                link.channels = channels
            except BROKER_ERRORS as exc:
                # E.g. an exchange or queue declared elsewhere with other arguments.
                await connection.close()
                if (mismatch := type_mismatch(exc)) is not None:
                    raise mismatch from exc
                raise ServiceUnavailable(
                    f"the message broker refused lgsp's topology: {exc}"
                ) from exc
            except BaseException:
                await connection.close()
                raise
            link.attach(connection, on_reconnected=self._on_reconnected)
            self._notices.connected()
            link.spawn(self._presence.heartbeat_loop(), "lgsp-amqp-heartbeat")
            await self._presence.announce_contracts()
            await self._presence.query_registry()
            log.info(
                "amqp.connected",
                url=masked(link.url),
                node=link.node(),
                queue_type=self._queue_type,
                transport_id=self._id,
            )

    async def close(self) -> None:
        link = self._link
        if link.connection is None or link.closing:
            return
        link.closing = True
        try:
            # No more heartbeats: one after provider.gone would bring this
            # process back into every presence table.
            await link.stop_tasks()
            # Stop taking work, tell gateways at once, then let what was
            # accepted finish: replies and acks still need the connection.
            await self._presence.depart()
            await link.drain()
        finally:
            await link.stop_tasks()
            self._rpc.fail_pending("transport closed")
            await link.disconnect()
            self._presence.forget_own()
            link.closing = False
            log.info("amqp.closed", transport_id=self._id)

    def _on_reconnected(self) -> None:
        self._presence.on_reconnected()
        self._notices.connected()

    def ready(self) -> bool:
        return self._link.ready()

    @property
    def queue_type(self) -> QueueType:
        """The type of the service queues, dead letters and unrouted events it declares."""
        return self._queue_type

    @property
    def node(self) -> str | None:
        """``host:port`` of the broker node the connection is on (None before
        :meth:`start`): one of the URL's nodes."""
        return self._link.node()

    @property
    def connection_name(self) -> str:
        """The name the broker shows for this process's connection
        (``rabbitmqctl list_connections client_properties``, the management UI)."""
        return connection_name(self._id)

    # -- gateway side -----------------------------------------------------

    def request(self, envelope: Envelope) -> Coroutine[Any, Any, Reply]:
        # The part's coroutine itself, not awaited here: no extra frame on
        # the hot path (it is awaited exactly as an async def would be).
        return self._rpc.request(envelope)

    async def publish(self, event: Event) -> None:
        await self._publisher.publish(event)

    def providers(self) -> list[ProviderInfo]:
        return self._presence.providers()

    def subscribers(self, topic: str) -> list[str]:
        return self._presence.subscribers(topic)

    def statuses(self) -> list[AdapterStatus]:
        # This process's, read now; the others', as their heartbeats said.
        return [*super().statuses(), *self._presence.heard_statuses()]

    async def queue_stats(self) -> list[QueueStats]:
        """Depth and consumers of every queue known here (passive
        declarations: asking never creates a queue); a queue that is gone is
        skipped, and the whole round is bounded by ``broker_timeout``."""
        return await self._queues.stats()

    def expect_contracts(self, fingerprints: Fingerprints) -> None:
        super().expect_contracts(fingerprints)
        self._presence.expect(self._published)

    def _expected(self, service: str, version: int) -> str | None:
        # Published here, or announced by a gateway.
        return self._presence.expected(service, version)

    # -- provider side ----------------------------------------------------

    async def serve(
        self,
        service: str,
        version: int,
        handler: ProviderHandler,
        *,
        instance: str,
        fingerprint: str | None = None,
    ) -> None:
        await self._provider.serve(
            service, version, handler, instance=instance, fingerprint=fingerprint
        )

    async def withdraw(self, instance: str) -> None:
        """Take a provider instance offline (it stops receiving requests)."""
        await self._provider.withdraw(instance)

    async def subscribe(self, topic: str, subscriber: str, handler: EventHandler) -> None:
        await self._consumer.subscribe(topic, subscriber, handler)

    # -- notices ----------------------------------------------------------

    async def broadcast(self, subject: str, body: bytes = b"") -> None:
        """A notice to every process on the broker, this one included
        (:class:`~lgsp.transport.base.Broadcasting`); kept and sent once
        connected when the broker cannot take it now."""
        await self._notices.broadcast(subject, body)

    def listen(self, subject: str, listener: NoticeListener) -> Callable[[], None]:
        return self._notices.listen(subject, listener)

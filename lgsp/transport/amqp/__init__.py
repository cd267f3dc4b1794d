"""The distributed engine: RabbitMQ through aio-pika.

Gateway and adapters run as separate processes, on as many machines as
needed; the broker carries everything between them.

Topology (every process declares it, so either side may start first)::

    default exchange --> lgsp.svc.<service>.v<version>   durable, one per service version,
                                                         dead letters to lgsp.dlx
    lgsp.events (topic, alternate-exchange lgsp.events.unrouted)
        --<topic>--> lgsp.sub.<subscriber>.<topic>       durable quorum queue per subscriber,
                                                         x-delivery-limit, dead letters to lgsp.dlx
    lgsp.events.unrouted (fanout) --> lgsp.events.unrouted   events no subscriber queue took
    lgsp.dlx (fanout) --> lgsp.dead-letters                  what could not be delivered
    lgsp.control (topic)                                 presence: provider.heartbeat,
                                                         provider.gone, registry.query,
                                                         registry.contracts

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

:meth:`AmqpTransport.start` fails with :class:`BrokerUnreachable` (a
:class:`~lgsp.errors.ServiceUnavailable` and a :class:`ConnectionError`) when
the broker cannot be reached, and the caller (the CLI) decides whether to
retry. Once connected, the connection is robust: it reconnects and restores
every declaration and consumer by itself, :meth:`AmqpTransport.ready` is False
while it is down, and requests and events meanwhile fail at once with 503.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Coroutine, Generator, Iterator
from dataclasses import dataclass
from typing import Any, Literal, cast

import aio_pika
import aiormq.abc
import orjson
import structlog
from aio_pika.abc import (
    AbstractChannel,
    AbstractConnection,
    AbstractIncomingMessage,
    AbstractRobustChannel,
    AbstractRobustConnection,
    AbstractRobustExchange,
    AbstractRobustQueue,
    ConsumerTag,
)
from aio_pika.exceptions import (
    CONNECTION_EXCEPTIONS,
    AMQPError,
    ChannelInvalidStateError,
    ChannelNotFoundEntity,
    DeliveryError,
)
from pamqp.commands import Basic
from pamqp.common import FieldValue
from yarl import URL

from lgsp.envelope import H_STATUS, Envelope, Event, Reply, new_id
from lgsp.errors import ServiceTimeout, ServiceUnavailable
from lgsp.transport.base import (
    EventHandler,
    Fingerprints,
    ProviderHandler,
    ProviderInfo,
    QueueStats,
    Transport,
)

__all__ = ["AmqpTransport", "BrokerUnreachable", "masked", "service_queue", "subscriber_queue"]

log = structlog.get_logger("lgsp.transport.amqp")

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

_QueueKind = Literal["service", "subscriber", "dead-letter"]

# What can go wrong talking to the broker: the connection or channel is down
# or closing, or the broker refused an operation. (Timeouts are caught apart.)
_BROKER_ERRORS = (AMQPError, ChannelInvalidStateError, ConnectionError)


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


def masked(url: str) -> str:
    """The URL with its password hidden, fit for a log line."""
    parsed = URL(url)
    return str(parsed.with_password("***")) if parsed.password else url


@dataclass(slots=True)
class _Serving:
    service: str
    version: int
    instance: str
    queue: AbstractRobustQueue
    tag: ConsumerTag
    fingerprint: str | None = None


@dataclass(slots=True)
class _Subscribed:
    topic: str
    name: str
    queue: AbstractRobustQueue
    tag: ConsumerTag


@dataclass(slots=True)
class _Channels:
    """One channel per job, so a busy or failed one never stalls the others."""

    rpc: AbstractRobustChannel
    """Requests out, replies in (direct reply-to needs both on one channel)."""
    serve: AbstractRobustChannel
    """Provider consumers (prefetch) and their replies."""
    subscribe: AbstractRobustChannel
    """Subscriber consumers, one event at a time each."""
    events: AbstractRobustChannel
    """Event publishing, with publisher confirms."""
    control: AbstractRobustChannel
    """Topology, presence announcements and the presence table's consumer."""
    probe: AbstractRobustChannel
    """Consumer-count checks of service queues; kept apart so that a refused
    declaration (the broker then closes the channel) disturbs nothing else."""


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
    :meth:`close` waits for work in progress.
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
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self._url = url
        self._prefetch = prefetch
        self._heartbeat_interval = heartbeat_interval
        self._provider_ttl = provider_ttl
        self._max_attempts = max_attempts
        self._retry_delay = retry_delay
        self._reconnect_interval = reconnect_interval
        self._broker_timeout = broker_timeout
        self._drain_timeout = drain_timeout
        self._id = uuid.uuid4().hex[:12]

        self._start_lock = asyncio.Lock()
        self._connection: AbstractRobustConnection | None = None
        self._channels: _Channels | None = None
        self._events_exchange: AbstractRobustExchange | None = None
        self._control_exchange: AbstractRobustExchange | None = None
        self._closing = False
        self._up = False
        """Connected, as far as the connection callbacks told (for logging)."""
        self._tasks: set[asyncio.Task[None]] = set()

        # Gateway side: requests waiting for their reply, by correlation id.
        self._pending: dict[str, asyncio.Future[Reply]] = {}
        self._correlation = itertools.count()
        self._probes: dict[tuple[str, int], asyncio.Future[int]] = {}

        # Provider and subscriber side: what this process serves.
        self._serving: list[_Serving] = []
        self._subscribed: list[_Subscribed] = []
        self._busy = 0
        self._idle = asyncio.Event()
        self._idle.set()

        # Presence heard from every process (this one included), monotonic times.
        self._seen_providers: dict[tuple[str, int], dict[str, float]] = defaultdict(dict)
        self._seen_subscribers: dict[str, dict[str, float]] = defaultdict(dict)
        # Providers refused for another contract, kept while they keep
        # announcing (so the refusal is logged once, and never probed around).
        self._refused: dict[tuple[str, int], dict[str, float]] = defaultdict(dict)
        # Contract fingerprints that gateways announced.
        self._heard_contracts: dict[tuple[str, int], str] = {}
        # Every queue this process has known to exist, for queue_stats: a
        # subscriber's queue keeps its events (and its lag) while it is away.
        self._known_queues: dict[str, _QueueKind] = {DEAD_LETTERS: "dead-letter"}

    # -- lifecycle --------------------------------------------------------

    async def start(self) -> None:
        async with self._start_lock:
            if self._connection is not None:
                return
            try:
                connection = await aio_pika.connect_robust(
                    self._url,
                    timeout=self._broker_timeout,
                    reconnect_interval=self._reconnect_interval,
                    client_properties={"connection_name": f"lgsp-{self._id}"},
                )
            except CONNECTION_EXCEPTIONS as exc:
                log.warning("amqp.connect_failed", url=masked(self._url), error=str(exc))
                raise BrokerUnreachable(
                    f"cannot reach the message broker at {masked(self._url)}"
                ) from exc
            try:
                await self._open(connection)
            except _BROKER_ERRORS as exc:
                # E.g. an exchange or queue declared elsewhere with other arguments.
                await connection.close()
                raise ServiceUnavailable(
                    f"the message broker refused lgsp's topology: {exc}"
                ) from exc
            except BaseException:
                await connection.close()
                raise
            self._connection = connection
            self._up = True
            connection.close_callbacks.add(self._on_connection_lost)
            connection.reconnect_callbacks.add(self._on_reconnected)
            self._spawn(self._heartbeat_loop(), "lgsp-amqp-heartbeat")
            await self._announce_contracts()
            await self._query_registry()
            log.info("amqp.connected", url=masked(self._url), transport_id=self._id)

    async def _open(self, connection: AbstractRobustConnection) -> None:
        async def channel(*, confirms: bool = False) -> AbstractRobustChannel:
            opened = connection.channel(publisher_confirms=confirms, on_return_raises=confirms)
            await opened.initialize()
            return opened

        channels = _Channels(
            rpc=await channel(),
            serve=await channel(),
            subscribe=await channel(),
            events=await channel(confirms=True),
            control=await channel(),
            probe=await channel(),
        )
        await channels.serve.set_qos(prefetch_count=self._prefetch)
        # One unacknowledged event per subscriber: events reach a subscriber in
        # order and one at a time, as with the memory engine.
        await channels.subscribe.set_qos(prefetch_count=1)

        control = channels.control
        dlx = await control.declare_exchange(DLX, aio_pika.ExchangeType.FANOUT, durable=True)
        # Expired requests are dead-lettered too; keep the newest ones only, so
        # the queue stays an inspection window instead of growing forever.
        dead = await control.declare_queue(
            DEAD_LETTERS, durable=True, arguments=DEAD_LETTERS_ARGUMENTS
        )
        await dead.bind(dlx, routing_key="")
        unrouted = await control.declare_exchange(
            UNROUTED, aio_pika.ExchangeType.FANOUT, durable=True
        )
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
        self._events_exchange = await channels.events.declare_exchange(EVENTS, passive=True)
        self._control_exchange = await control.declare_exchange(
            CONTROL, aio_pika.ExchangeType.TOPIC, durable=True
        )
        presence = await control.declare_queue(
            f"lgsp.control.{self._id}", exclusive=True, auto_delete=True
        )
        for key in (HEARTBEAT, GONE, QUERY, CONTRACTS):
            await presence.bind(self._control_exchange, routing_key=key)
        await presence.consume(self._on_control, no_ack=True)

        # Direct reply-to: consume the pseudo-queue before the first publish,
        # on the channel that publishes. Declared (passively) rather than just
        # named, so the robust channel consumes it again after a reconnection.
        replies = await channels.rpc.declare_queue(REPLY_TO, passive=True)
        await replies.consume(self._on_reply, no_ack=True)
        # Replies come back on this channel only: when it closes (with the
        # connection or alone), nobody can answer what is pending on it.
        channels.rpc.close_callbacks.add(self._on_rpc_closed)
        self._channels = channels

    async def close(self) -> None:
        connection = self._connection
        if connection is None or self._closing:
            return
        self._closing = True
        try:
            # No more heartbeats: one after provider.gone would bring this
            # process back into every presence table.
            await self._stop_tasks()
            # Stop taking work, tell gateways at once, then let what was
            # accepted finish: replies and acks still need the connection.
            for sub in self._subscribed:
                await self._cancel(sub.queue, sub.tag)
            for srv in self._serving:
                await self._cancel(srv.queue, srv.tag)
            await self._announce(GONE)
            await self._drain()
        finally:
            await self._stop_tasks()
            self._fail_pending("transport closed")
            await connection.close()
            self._connection = None
            self._channels = None
            self._serving.clear()
            self._subscribed.clear()
            self._closing = False
            log.info("amqp.closed", transport_id=self._id)

    async def _stop_tasks(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _drain(self) -> None:
        # Deliveries already received get their task scheduled by aio-pika; let
        # them start before judging the transport idle.
        await asyncio.sleep(0)
        try:
            async with asyncio.timeout(self._drain_timeout):
                await self._idle.wait()
        except TimeoutError:
            log.warning("amqp.drain_timeout", busy=self._busy, timeout=self._drain_timeout)

    def ready(self) -> bool:
        connection, channels = self._connection, self._channels
        return (
            connection is not None
            and channels is not None
            and connection.connected.is_set()
            and not channels.rpc.is_closed
        )

    # -- gateway side -----------------------------------------------------

    async def request(self, envelope: Envelope) -> Reply:
        channels = self._channels
        if channels is None or not self.ready():
            raise BrokerUnreachable("the message broker is unreachable")
        if not await self._online(envelope.service, envelope.version):
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
        with self._working():
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
            except _BROKER_ERRORS as exc:
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

    async def _online(self, service: str, version: int) -> bool:
        """Is a provider serving this version? The presence table answers at
        once; when it knows none, one round trip asks the broker whether the
        queue has a consumer (a provider that just started, before its first
        announcement arrived, or a gateway that just started)."""
        key = (service, version)
        seen = self._seen_providers.get(key)
        if seen:
            horizon = time.monotonic() - self._provider_ttl
            if any(t >= horizon for t in seen.values()):
                return True
        if any((s.service, s.version) == key for s in self._serving):
            return True
        if self._refused.get(key):
            # The queue's consumer may be the refused provider: never route to it.
            return False
        # Concurrent requests for the same unknown service share one check.
        probe = self._probes.get(key)
        if probe is None:
            probe = asyncio.ensure_future(self._consumer_count(service, version))
            self._probes[key] = probe
            probe.add_done_callback(lambda _: self._probes.pop(key, None))
        return await asyncio.shield(probe) > 0

    async def _consumer_count(self, service: str, version: int) -> int:
        channels = self._channels
        if channels is None:
            return 0
        try:
            async with asyncio.timeout(self._broker_timeout):
                await channels.probe.ready()
                channel = await channels.probe.get_underlay_channel()
                # A full (idempotent) declaration rather than a passive one: a
                # passive check of a queue that does not exist yet closes the
                # channel, failing every other check in flight on it. Declaring
                # the queue of a catalogued service version is harmless; its
                # provider declares the same.
                declared = await channel.queue_declare(
                    service_queue(service, version),
                    durable=True,
                    arguments=SERVICE_QUEUE_ARGUMENTS,
                )
        except (TimeoutError, AMQPError, ChannelInvalidStateError, ConnectionError):
            log.warning("amqp.probe_failed", service=service, version=version, exc_info=True)
            return 0
        self._known_queues[service_queue(service, version)] = "service"
        return declared.consumer_count or 0

    async def publish(self, event: Event) -> None:
        exchange = self._events_exchange
        if exchange is None or not self.ready():
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
        except _BROKER_ERRORS as exc:
            log.warning(
                "amqp.publish_failed", topic=event.topic, event_id=event.event_id, error=repr(exc)
            )
            raise BrokerUnreachable("the message broker did not accept the event") from exc

    def providers(self) -> list[ProviderInfo]:
        now = time.monotonic()
        horizon = now - self._provider_ttl
        found: dict[tuple[str, int, str], ProviderInfo] = {}
        for (service, version), instances in self._seen_providers.items():
            for instance, seen in instances.items():
                if seen >= horizon:
                    found[(service, version, instance)] = ProviderInfo(
                        service, version, instance, now - seen
                    )
        for srv in self._serving:
            # What this process serves is online by definition.
            found[(srv.service, srv.version, srv.instance)] = ProviderInfo(
                srv.service, srv.version, srv.instance, 0.0
            )
        return list(found.values())

    async def queue_stats(self) -> list[QueueStats]:
        """Depth and consumers of every queue known here (passive
        declarations: asking never creates a queue); a queue that is gone is
        skipped, and the whole round is bounded by ``broker_timeout``."""
        connection = self._connection
        if connection is None or connection.transport is None or not self.ready():
            return []
        stats: list[QueueStats] = []
        # A plain channel of its own, not a robust one: asking about a queue
        # that was deleted closes it, and the next question needs a new one.
        channel: aiormq.abc.AbstractChannel | None = None
        try:
            async with asyncio.timeout(self._broker_timeout):
                for name, kind in sorted(self._known_queues.items()):
                    if channel is None or channel.is_closed:
                        channel = await connection.transport.connection.channel()
                    try:
                        declared = await channel.queue_declare(name, passive=True)
                    except ChannelNotFoundEntity:
                        if name != DEAD_LETTERS:
                            del self._known_queues[name]  # deleted behind our back
                        continue
                    stats.append(
                        QueueStats(
                            name, kind, declared.message_count or 0, declared.consumer_count or 0
                        )
                    )
        except (TimeoutError, *_BROKER_ERRORS):
            log.warning("amqp.queue_stats_failed", exc_info=True)
        finally:
            if channel is not None and not channel.is_closed:
                with contextlib.suppress(*_BROKER_ERRORS):
                    await channel.close()
        return stats

    def subscribers(self, topic: str) -> list[str]:
        names = [s.name for s in self._subscribed if s.topic == topic]
        horizon = time.monotonic() - self._provider_ttl
        for name, seen in self._seen_subscribers.get(topic, {}).items():
            if seen >= horizon and name not in names:
                names.append(name)
        return names

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
        channels = self._require_channels()
        if (refusal := self._check_contract(service, version, instance, fingerprint)) is not None:
            raise refusal  # before consuming: not one request reaches it
        queue = await channels.serve.declare_queue(
            service_queue(service, version), durable=True, arguments=SERVICE_QUEUE_ARGUMENTS
        )
        self._known_queues[queue.name] = "service"

        async def on_request(message: AbstractIncomingMessage) -> None:
            await self._handle_request(channels.serve, handler, message)

        tag = await queue.consume(on_request)
        self._serving.append(_Serving(service, version, instance, queue, tag, fingerprint))
        log.info("amqp.serving", service=service, version=version, instance=instance)
        await self._announce(HEARTBEAT)

    async def _handle_request(
        self,
        channel: AbstractRobustChannel,
        handler: ProviderHandler,
        message: AbstractIncomingMessage,
    ) -> None:
        with self._working():
            try:
                envelope = Envelope.from_headers(
                    message.message_id or new_id(), _text_headers(message), message.body
                )
            except (KeyError, ValueError, TypeError):
                log.error(
                    "amqp.request_malformed",
                    message_id=message.message_id,
                    routing_key=message.routing_key,
                )
                await self._settle(message.reject(requeue=False))  # to lgsp.dead-letters
                return
            if envelope.remaining() <= 0:
                # Nobody waits for it any more; answering would be wasted work.
                log.info(
                    "amqp.request_expired", request_id=envelope.request_id, service=envelope.service
                )
                await self._settle(message.ack())
                return
            try:
                reply = await handler(envelope)
            except Exception:
                # Handlers must not raise; if one does, it is the provider's 500.
                log.exception(
                    "provider.failed", service=envelope.service, request_id=envelope.request_id
                )
                reply = Reply.failed("provider raised an error")
            if message.reply_to:
                try:
                    underlay = await channel.get_underlay_channel()
                    await underlay.basic_publish(
                        reply.body,
                        routing_key=message.reply_to,
                        properties=Basic.Properties(
                            content_type="application/json",
                            headers={H_STATUS: reply.status},
                            correlation_id=message.correlation_id,
                        ),
                    )
                except _BROKER_ERRORS:
                    # Not acked: the broker gives the request to another
                    # provider if the gateway still waits for it.
                    log.warning("amqp.reply_failed", request_id=envelope.request_id, exc_info=True)
                    return
            await self._settle(message.ack())

    async def subscribe(self, topic: str, subscriber: str, handler: EventHandler) -> None:
        channels = self._require_channels()
        queue = await channels.subscribe.declare_queue(
            subscriber_queue(subscriber, topic),
            durable=True,
            arguments={
                "x-queue-type": "quorum",
                "x-dead-letter-exchange": DLX,
                # The broker counts redeliveries: the first delivery plus
                # max_attempts - 1 retries, then the event is dead-lettered.
                "x-delivery-limit": self._max_attempts - 1,
            },
        )
        await queue.bind(EVENTS, routing_key=topic)
        self._known_queues[queue.name] = "subscriber"

        async def on_event(message: AbstractIncomingMessage) -> None:
            await self._handle_event(subscriber, handler, message)

        tag = await queue.consume(on_event)
        self._subscribed.append(_Subscribed(topic, subscriber, queue, tag))
        log.info("amqp.subscribed", topic=topic, subscriber=subscriber)
        await self._announce(HEARTBEAT)

    async def _handle_event(
        self, subscriber: str, handler: EventHandler, message: AbstractIncomingMessage
    ) -> None:
        with self._working():
            try:
                event = Event.from_headers(
                    message.message_id or new_id(),
                    message.correlation_id or "",
                    _text_headers(message),
                    message.body,
                )
            except (KeyError, ValueError, TypeError):
                log.error(
                    "amqp.event_malformed", subscriber=subscriber, message_id=message.message_id
                )
                await self._settle(message.reject(requeue=False))  # to lgsp.dead-letters
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
                    if not self._closing:
                        await asyncio.sleep(self._retry_delay * 2 ** (attempt - 1))
                else:
                    # This nack exceeds the queue's delivery limit.
                    log.error(
                        "event.dead_lettered",
                        topic=event.topic,
                        subscriber=subscriber,
                        event_id=event.event_id,
                    )
                await self._settle(message.nack(requeue=True))
                return
            await self._settle(message.ack())

    async def withdraw(self, instance: str) -> None:
        """Take a provider instance offline (it stops receiving requests)."""
        leaving = [s for s in self._serving if s.instance == instance]
        self._serving = [s for s in self._serving if s.instance != instance]
        for srv in leaving:
            await self._cancel(srv.queue, srv.tag)
        await self._announce(GONE, leaving)

    # -- presence ---------------------------------------------------------

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self._heartbeat_interval)
            await self._announce(HEARTBEAT)
            self._forget_stale()

    async def _announce(self, key: str, serving: list[_Serving] | None = None) -> None:
        """Tell every transport what this process serves (best effort: the
        next heartbeat repeats it)."""
        if key == HEARTBEAT and self._closing:
            return
        serving = self._serving if serving is None else serving
        entries: list[dict[str, object]] = [
            {
                "kind": "provider",
                "service": s.service,
                "version": s.version,
                "instance": s.instance,
                "fingerprint": s.fingerprint,
            }
            for s in serving
        ]
        if key == HEARTBEAT:
            entries += [
                {"kind": "subscriber", "topic": s.topic, "subscriber": s.name, "instance": self._id}
                for s in self._subscribed
            ]
        if entries:
            await self._control_publish(key, orjson.dumps(entries))

    def expect_contracts(self, fingerprints: Fingerprints) -> None:
        super().expect_contracts(fingerprints)
        if self._connection is not None:
            # Already connected: what was heard was not checked. Tell, then
            # ask again (in that order: a refused provider stops consuming
            # before it answers).
            self._seen_providers.clear()
            self._spawn(self._recheck(), "lgsp-amqp-contracts")

    async def _recheck(self) -> None:
        await self._announce_contracts()
        await self._query_registry()

    def _expected(self, service: str, version: int) -> str | None:
        key = (service, version)
        return self._published.get(key) or self._heard_contracts.get(key)

    async def _announce_contracts(self) -> None:
        """Tell every process the fingerprints this one publishes (a gateway)."""
        if self._published:
            entries = [
                {"service": service, "version": version, "fingerprint": fingerprint}
                for (service, version), fingerprint in self._published.items()
            ]
            await self._control_publish(CONTRACTS, orjson.dumps(entries))

    async def _learn_contracts(self, entries: list[object]) -> None:
        for entry in entries:
            if isinstance(entry, dict):
                service, version = entry.get("service"), entry.get("version")
                fingerprint = entry.get("fingerprint")
                if (
                    isinstance(service, str)
                    and isinstance(version, int)
                    and isinstance(fingerprint, str)
                ):
                    self._heard_contracts[(service, version)] = fingerprint
        # Serving something built against another contract: stop taking its requests.
        refused = [
            s
            for s in self._serving
            if self._check_contract(s.service, s.version, s.instance, s.fingerprint) is not None
        ]
        if refused:
            self._serving = [s for s in self._serving if all(s is not r for r in refused)]
            for srv in refused:
                await self._cancel(srv.queue, srv.tag)
            await self._announce(GONE, refused)

    async def _query_registry(self) -> None:
        # Every serving process answers with a heartbeat at once.
        await self._control_publish(QUERY, b"")

    async def _control_publish(self, key: str, body: bytes) -> None:
        exchange = self._control_exchange
        if exchange is None or not self.ready():
            return
        try:
            async with asyncio.timeout(self._broker_timeout):
                await exchange.publish(
                    # An announcement older than the TTL means nothing.
                    aio_pika.Message(body, expiration=self._provider_ttl),
                    routing_key=key,
                    mandatory=False,
                )
        except (TimeoutError, AMQPError, ChannelInvalidStateError, ConnectionError):
            log.debug("amqp.announce_failed", key=key, exc_info=True)

    async def _on_control(self, message: AbstractIncomingMessage) -> None:
        key = message.routing_key
        if key == QUERY:
            await self._announce(HEARTBEAT)
            await self._announce_contracts()
            return
        try:
            entries = orjson.loads(message.body)
        except orjson.JSONDecodeError:
            log.warning("amqp.control_malformed", routing_key=key)
            return
        if key == CONTRACTS:
            await self._learn_contracts(entries if isinstance(entries, list) else [])
            return
        now = time.monotonic()
        for entry in entries if isinstance(entries, list) else ():
            self._note(entry, now, gone=key == GONE)

    def _note(self, entry: object, now: float, *, gone: bool) -> None:
        if not isinstance(entry, dict):
            return
        instance = entry.get("instance")
        if not isinstance(instance, str):
            return
        kind = entry.get("kind")
        if kind == "provider":
            service, version = entry.get("service"), entry.get("version")
            if isinstance(service, str) and isinstance(version, int):
                instances = self._seen_providers[(service, version)]
                refused = self._refused[(service, version)]
                if gone:
                    instances.pop(instance, None)
                    refused.pop(instance, None)
                    return
                fingerprint = entry.get("fingerprint")
                if instance in refused or (
                    self._check_contract(
                        service,
                        version,
                        instance,
                        fingerprint if isinstance(fingerprint, str) else None,
                    )
                    is not None
                ):
                    # Built against another contract: never counted online.
                    refused[instance] = now
                    instances.pop(instance, None)
                else:
                    instances[instance] = now
                    self._known_queues[service_queue(service, version)] = "service"
        elif kind == "subscriber":
            topic, name = entry.get("topic"), entry.get("subscriber")
            if isinstance(topic, str) and isinstance(name, str) and not gone:
                self._seen_subscribers[topic][name] = now
                self._known_queues[subscriber_queue(name, topic)] = "subscriber"

    def _forget_stale(self) -> None:
        horizon = time.monotonic() - self._provider_ttl
        tables = (
            *self._seen_providers.values(),
            *self._seen_subscribers.values(),
            *self._refused.values(),
        )
        for table in tables:
            for name in [n for n, seen in table.items() if seen < horizon]:
                del table[name]

    # -- connection events ------------------------------------------------

    def _on_connection_lost(
        self, _connection: AbstractConnection | None, exc: BaseException | None
    ) -> None:
        if self._closing:
            return
        # Called again for every failed reconnection attempt: say it once.
        if self._up:
            self._up = False
            log.warning("amqp.disconnected", url=masked(self._url), error=repr(exc))
        else:
            log.debug("amqp.reconnect_failed", url=masked(self._url), error=repr(exc))

    def _on_reconnected(self, _connection: AbstractRobustConnection | None) -> None:
        self._up = True
        log.info("amqp.reconnected", url=masked(self._url), transport_id=self._id)
        self._spawn(self._announce(HEARTBEAT), "lgsp-amqp-announce")
        self._spawn(self._announce_contracts(), "lgsp-amqp-contracts")
        self._spawn(self._query_registry(), "lgsp-amqp-query")

    def _on_rpc_closed(self, _channel: AbstractChannel | None, exc: BaseException | None) -> None:
        if not self._closing:
            self._fail_pending("lost the message broker")

    def _fail_pending(self, reason: str) -> None:
        for future in self._pending.values():
            if not future.done():
                future.set_exception(BrokerUnreachable(reason))

    # -- helpers ----------------------------------------------------------

    def _require_channels(self) -> _Channels:
        if self._channels is None:
            raise ServiceUnavailable("transport is not started")
        return self._channels

    @contextlib.contextmanager
    def _working(self) -> Iterator[None]:
        """Count work in progress, so close() can wait for it."""
        self._busy += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._busy -= 1
            if self._busy == 0:
                self._idle.set()

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @staticmethod
    async def _cancel(queue: AbstractRobustQueue, tag: ConsumerTag) -> None:
        try:
            await queue.cancel(tag)
        except (TimeoutError, AMQPError, ChannelInvalidStateError, ConnectionError):
            log.debug("amqp.cancel_failed", queue=queue.name, exc_info=True)

    @staticmethod
    async def _settle(outcome: Awaitable[None]) -> None:
        # Settling on a channel that died is harmless: the broker redelivers
        # whatever was not acknowledged.
        try:
            await outcome
        except _BROKER_ERRORS:
            log.debug("amqp.settle_failed", exc_info=True)


def _text_headers(message: AbstractIncomingMessage) -> dict[str, str]:
    # Envelope headers are sent as strings and the broker hands them back as
    # such; a message from elsewhere may break from_headers (KeyError,
    # ValueError, TypeError), which the callers treat as malformed.
    return cast(dict[str, str], message.headers)


class _Done:
    """An awaitable that is already done: what a synchronous consumer callback
    returns to satisfy aio-pika's callback type."""

    __slots__ = ()

    def __await__(self) -> Generator[None, None, None]:
        yield from ()


_DONE = _Done()

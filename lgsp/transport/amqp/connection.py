"""The link to the broker: connecting (to the first node that answers, when
the URL names a cluster's nodes), one channel per job, what the robust
connection reports when it is lost and back, readiness, the background tasks
the transport owns, and the count of work in progress that closing drains.
Also how every consumer settles and reads a delivery.
"""

from __future__ import annotations

import asyncio
import contextlib
import urllib.parse
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from dataclasses import dataclass
from typing import Any, cast

import structlog
from aio_pika.abc import (
    AbstractConnection,
    AbstractIncomingMessage,
    AbstractRobustChannel,
    AbstractRobustConnection,
    AbstractRobustQueue,
    ConsumerTag,
)
from aio_pika.exceptions import CONNECTION_EXCEPTIONS, AMQPError, ChannelInvalidStateError

from lgsp.errors import ServiceUnavailable
from lgsp.transport.amqp.nodes import NodesConnection, masked, node_address, node_urls
from lgsp.transport.amqp.topology import BROKER_ERRORS, BrokerUnreachable

# One logger for the whole engine, whichever of its modules speaks: log lines
# name the transport, not its internals.
log = structlog.get_logger("lgsp.transport.amqp")


@dataclass(slots=True)
class Channels:
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


class Link:
    """One process's connection to the broker and what hangs on it: its
    channels, its tasks, and the work in progress on it.

    The parts of the transport read ``connection``, ``channels`` and
    ``closing`` here; only the transport's lifecycle sets them.
    """

    def __init__(
        self,
        url: str,
        *,
        transport_id: str,
        prefetch: int,
        reconnect_interval: float,
        broker_timeout: float,
        drain_timeout: float,
    ) -> None:
        self.url = url
        self.nodes = node_urls(url)
        """One URL per node: the connection goes round them."""
        self.transport_id = transport_id
        self._prefetch = prefetch
        self._reconnect_interval = reconnect_interval
        self._broker_timeout = broker_timeout
        self._drain_timeout = drain_timeout

        self.start_lock = asyncio.Lock()
        self.connection: AbstractRobustConnection | None = None
        self.channels: Channels | None = None
        self.closing = False
        self._up = False
        """Connected, as far as the connection callbacks told (for logging)."""
        self._on_back: Callable[[], None] = _nothing
        self._tasks: set[asyncio.Task[None]] = set()
        self._unbroken: set[asyncio.Task[None]] = set()
        self._busy = 0
        self._idle = asyncio.Event()
        self._idle.set()

    # -- connecting -------------------------------------------------------

    async def connect(self) -> NodesConnection:
        """A robust connection to the first node that answers, in the order
        of the URL, or :class:`BrokerUnreachable` when none does."""
        failure: BaseException | None = None
        for first, node in enumerate(self.nodes):
            # What aio_pika.connect_robust does, with the connection that
            # goes round the nodes when it reconnects.
            connection = NodesConnection(
                self.nodes,
                first,
                reconnect_interval=self._reconnect_interval,
                client_properties={"connection_name": connection_name(self.transport_id)},
            )
            try:
                await connection.connect(timeout=self._broker_timeout)
            except CONNECTION_EXCEPTIONS as exc:
                await connection.close()
                log.warning("amqp.connect_failed", node=node_address(node), error=str(exc))
                failure = exc
                continue
            return connection
        assert failure is not None
        raise BrokerUnreachable(_why_unreachable(self.url, failure)) from failure

    async def open_channels(self, connection: AbstractRobustConnection) -> Channels:
        channel = self.open_channel
        channels = Channels(
            rpc=await channel(connection),
            serve=await channel(connection),
            subscribe=await channel(connection),
            events=await channel(connection, confirms=True),
            control=await channel(connection),
            probe=await channel(connection),
        )
        await channels.serve.set_qos(prefetch_count=self._prefetch)
        # One unacknowledged event per subscriber: events reach a subscriber in
        # order and one at a time, as with the memory engine.
        await channels.subscribe.set_qos(prefetch_count=1)
        return channels

    @staticmethod
    async def open_channel(
        connection: AbstractRobustConnection, *, confirms: bool = False
    ) -> AbstractRobustChannel:
        """A robust channel (with publisher confirms, and returns raised, if asked)."""
        opened = connection.channel(publisher_confirms=confirms, on_return_raises=confirms)
        await opened.initialize()
        return opened

    def attach(
        self, connection: AbstractRobustConnection, *, on_reconnected: Callable[[], None]
    ) -> None:
        """Take the opened connection as this link's; ``on_reconnected`` runs
        (after the reconnection is logged) whenever it comes back."""
        self.connection = connection
        self._up = True
        self._on_back = on_reconnected
        connection.close_callbacks.add(self._on_connection_lost)
        connection.reconnect_callbacks.add(self._on_reconnected)

    async def disconnect(self) -> None:
        left = list(self._unbroken)
        for task in left:
            task.cancel()
        await asyncio.gather(*left, return_exceptions=True)
        connection = self.connection
        if connection is not None:
            await connection.close()
        self.connection = None
        self.channels = None

    def ready(self) -> bool:
        connection, channels = self.connection, self.channels
        return (
            connection is not None
            and channels is not None
            and connection.connected.is_set()
            and not channels.rpc.is_closed
        )

    def require_channels(self) -> Channels:
        if self.channels is None:
            raise ServiceUnavailable("transport is not started")
        return self.channels

    # -- connection events ------------------------------------------------

    def node(self) -> str | None:
        """``host:port`` of the node the connection is on (or tries next)."""
        connection = self.connection
        return connection.node if isinstance(connection, NodesConnection) else None

    def _on_connection_lost(
        self, _connection: AbstractConnection | None, exc: BaseException | None
    ) -> None:
        if self.closing:
            return
        # Called again for every failed reconnection attempt: say it once.
        if self._up:
            self._up = False
            log.warning("amqp.disconnected", node=self.node(), error=repr(exc))
        else:
            log.debug("amqp.reconnect_failed", node=self.node(), error=repr(exc))

    def _on_reconnected(self, _connection: AbstractRobustConnection | None) -> None:
        self._up = True
        log.info("amqp.reconnected", node=self.node(), transport_id=self.transport_id)
        self._on_back()

    # -- tasks and work in progress ---------------------------------------

    def spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        """Run in the background, owned here and cancelled by :meth:`stop_tasks`."""
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def unbroken(self, coro: Coroutine[Any, Any, None], name: str) -> Awaitable[None]:
        """Run ``coro`` to its end even if the task awaiting it is cancelled.

        aio-pika cancels a channel's delivery tasks when the channel is lost;
        a subscriber's handler cut short there, after its work and before its
        inbox record, would run again on the redelivery. Its acknowledgement
        then fails harmlessly and the redelivery is recognised as a duplicate.
        What is still running when the link disconnects is cancelled then."""
        task = asyncio.create_task(coro, name=name)
        self._unbroken.add(task)
        task.add_done_callback(self._unbroken.discard)
        return asyncio.shield(task)

    async def stop_tasks(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    @contextlib.contextmanager
    def working(self) -> Iterator[None]:
        """Count work in progress, so close() can wait for it."""
        self._busy += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._busy -= 1
            if self._busy == 0:
                self._idle.set()

    async def drain(self) -> None:
        # Deliveries already received get their task scheduled by aio-pika; let
        # them start before judging the transport idle.
        await asyncio.sleep(0)
        try:
            async with asyncio.timeout(self._drain_timeout):
                await self._idle.wait()
        except TimeoutError:
            log.warning("amqp.drain_timeout", busy=self._busy, timeout=self._drain_timeout)


def connection_name(transport_id: str) -> str:
    """What the broker shows as the connection's name."""
    return f"lgsp-{transport_id}"


def _nothing() -> None:
    pass


# -- deliveries -------------------------------------------------------------


async def cancel(queue: AbstractRobustQueue, tag: ConsumerTag) -> None:
    """Stop a consumer, best effort: on a channel that is gone, none is left to stop."""
    try:
        await queue.cancel(tag)
    except (TimeoutError, AMQPError, ChannelInvalidStateError, ConnectionError):
        log.debug("amqp.cancel_failed", queue=queue.name, exc_info=True)


async def settle(outcome: Awaitable[None]) -> None:
    # Settling on a channel that died is harmless: the broker redelivers
    # whatever was not acknowledged.
    try:
        await outcome
    except BROKER_ERRORS:
        log.debug("amqp.settle_failed", exc_info=True)


def text_headers(message: AbstractIncomingMessage) -> dict[str, str]:
    # Envelope headers are sent as strings and the broker hands them back as
    # such; a message from elsewhere may break from_headers (KeyError,
    # ValueError, TypeError), which the callers treat as malformed.
    return cast(dict[str, str], message.headers)


def _why_unreachable(url: str, exc: BaseException) -> str:
    """What to tell an operator. A broker that answers the opening with a
    close names no reason aio-pika keeps; with a virtual host in the URL
    (one province's) it is almost always that host missing or not granted."""
    said = f"cannot reach the message broker at {masked(url)}"
    vhost = urllib.parse.urlsplit(url).path.lstrip("/")
    if vhost and "Connection.Close" in str(exc):
        return (
            f"{said}: it closed the connection as it opened; does the virtual host "
            f"{vhost!r} exist, and may this user use it? (rabbitmqctl add_vhost {vhost}; "
            f"rabbitmqctl set_permissions -p {vhost} <user> '.*' '.*' '.*')"
        )
    return said

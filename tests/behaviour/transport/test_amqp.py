"""The AMQP transport against a real RabbitMQ node: what every engine
promises (tests/behaviour/transport/base.py), and what only this one does
(providers and gateway in separate processes, durable subscriber queues,
unroutable events kept, the broker restarting, queues deleted behind its
back). Every test uses names of its own, so tests never see each other's
queues on the shared session broker."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aio_pika
import pytest
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractQueue

from lgsp.envelope import Envelope, Event, Reply
from lgsp.errors import ServiceTimeout, ServiceUnavailable
from lgsp.testing.rabbitmq import RabbitNode
from lgsp.transport import Transport
from lgsp.transport.amqp import DLX, UNROUTED, AmqpTransport
from lgsp.transport.amqp.topology import BrokerUnreachable
from tests.behaviour.transport.base import (
    DeadLetters,
    Inbox,
    Make,
    TransportContract,
    echo,
    envelope,
    event,
)
from tests.support.waiting import eventually

amqp = pytest.mark.amqp

FAST: dict[str, float] = {
    "heartbeat_interval": 0.2,
    "provider_ttl": 1.0,
    "retry_delay": 0.01,
    "reconnect_interval": 0.3,
}
"""Presence timings fast enough for tests."""


@contextlib.asynccontextmanager
async def transports(url: str) -> AsyncIterator[Make]:
    """Start transports (each its own connection, as separate processes
    would have) with fast presence timings; all are closed at the end."""
    made: list[AmqpTransport] = []

    async def start(**options: Any) -> AmqpTransport:
        transport = AmqpTransport(url, **(FAST | options))
        await transport.start()
        made.append(transport)
        return transport

    try:
        yield start
    finally:
        for transport in reversed(made):
            await transport.close()


@pytest.fixture
async def make(lgsp_rabbitmq_url: str) -> AsyncIterator[Make]:
    async with transports(lgsp_rabbitmq_url) as start:
        yield start


@pytest.fixture
def name() -> str:
    """A unique service, topic or subscriber name for this test."""
    return f"test.amqp.{uuid.uuid4().hex[:10]}"


@contextlib.asynccontextmanager
async def raw_channel(url: str) -> AsyncIterator[AbstractChannel]:
    """A plain aio-pika channel, to look at the broker from outside."""
    connection = await aio_pika.connect(url)
    async with connection:
        yield await connection.channel()


async def tap(channel: AbstractChannel, exchange: str) -> AbstractQueue:
    """A private queue that gets a copy of everything a fanout exchange routes."""
    queue = await channel.declare_queue(exclusive=True, auto_delete=True)
    await queue.bind(exchange, routing_key="")
    return queue


async def get_one(queue: AbstractQueue, timeout: float = 10.0) -> AbstractIncomingMessage:
    deadline = time.monotonic() + timeout
    while (message := await queue.get(fail=False, no_ack=True)) is None:
        assert time.monotonic() < deadline, f"nothing arrived in {queue.name}"
        await asyncio.sleep(0.01)
    return message


class AmqpDeadLetters:
    def __init__(self, queue: AbstractQueue) -> None:
        self.queue = queue

    async def check(self, event: Event) -> None:
        message = await get_one(self.queue)
        assert message.message_id == event.event_id
        assert message.headers["x-first-death-reason"] == "delivery_limit"


@amqp
class TestAmqpTransport(TransportContract):
    kind = "amqp"
    heard_within = FAST["provider_ttl"]
    own_dead_letters = False  # the session's broker keeps every test's dead letters

    @pytest.fixture(autouse=True)
    def broker(self, lgsp_rabbitmq_url: str) -> None:
        self.url = lgsp_rabbitmq_url

    @pytest.fixture
    async def make(self, lgsp_rabbitmq_url: str) -> AsyncIterator[Make]:
        async with transports(lgsp_rabbitmq_url) as start:
            yield start

    def unstarted(self) -> Transport:
        return AmqpTransport(self.url)

    async def leave(self, provider: Transport, instance: str) -> None:
        await provider.close()  # says provider.gone

    async def settle(self, transport: Transport) -> None:
        pass  # the broker delivers in its own time: the test polls

    @contextlib.asynccontextmanager
    async def dead_letters(self, transport: Transport) -> AsyncIterator[DeadLetters]:
        async with raw_channel(self.url) as channel:
            yield AmqpDeadLetters(await tap(channel, DLX))


# -- requests ---------------------------------------------------------------


# What follows only this engine can do or show: on memory the gateway and its
# providers are one engine in one process (none starts before the other, none
# is away while the others run), nothing outlives the process, and there is
# no broker to restart.


@amqp
async def test_provider_started_before_the_gateway(make: Make, name: str) -> None:
    provider = await make()
    await provider.serve(name, 1, echo, instance="early")
    gateway = await make()
    assert (await gateway.request(envelope(name))).status == 200
    # registry.query at start makes the provider announce itself at once.
    await eventually(lambda: gateway.providers_online(name, 1) == 1, "the provider is listed")


# A provider's slots (prefetch) and a queue that holds requests: on memory a
# request is a direct await, never queued behind another.
@amqp
async def test_deadline_gives_504_and_a_stale_request_never_reaches_the_provider(
    make: Make, name: str
) -> None:
    gateway, provider = await make(), await make(prefetch=1)
    seen: list[str] = []
    release = asyncio.Event()

    async def handler(e: Envelope) -> Reply:
        seen.append(e.request_id)
        if e.request_id == "slow":
            await release.wait()
        return Reply(200, b"{}")

    await provider.serve(name, 1, handler, instance="p1")
    started = time.monotonic()
    with pytest.raises(ServiceTimeout):
        await gateway.request(envelope(name, "slow", timeout=0.5))
    assert 0.4 < time.monotonic() - started < 2.0
    # The provider's only slot is busy: this one waits in the queue and expires.
    with pytest.raises(ServiceTimeout):
        await gateway.request(envelope(name, "stale", timeout=0.3))
    release.set()
    # Requests are delivered in order: once "fence" is served, "stale" would
    # have been too.
    assert (await gateway.request(envelope(name, "fence"))).status == 200
    assert seen == ["slow", "fence"]


# On memory a request runs in its caller's task: a provider's close() has no
# request of its own to drain.
@amqp
async def test_close_drains_an_in_flight_request(make: Make, name: str) -> None:
    gateway, provider = await make(), await make()
    entered, release = asyncio.Event(), asyncio.Event()

    async def handler(e: Envelope) -> Reply:
        entered.set()
        await release.wait()
        return Reply(200, b'{"late":"but answered"}')

    await provider.serve(name, 1, handler, instance="p1")
    pending = asyncio.create_task(gateway.request(envelope(name)))
    await entered.wait()
    closing = asyncio.create_task(provider.close())
    # close() has stopped consuming and said provider.gone, and now waits.
    await eventually(lambda: gateway.providers_online(name, 1) == 0, "the provider leaves")
    assert not closing.done()
    release.set()
    assert (await pending) == Reply(200, b'{"late":"but answered"}')
    await closing
    assert not provider.ready()


# -- events -----------------------------------------------------------------


@amqp
async def test_events_wait_for_a_subscriber_that_was_away(make: Make, name: str) -> None:
    publisher = await make()
    first = await make()
    await first.subscribe(name, name, Inbox().handle)  # its durable queue now exists
    await first.close()
    sent = [event(name, n) for n in range(2)]
    for e in sent:
        await publisher.publish(e)
    inbox = Inbox()
    await (await make()).subscribe(name, name, inbox.handle)
    assert [e.event_id for e in await inbox.wait_for(2)] == [e.event_id for e in sent]


@amqp
async def test_an_event_no_subscriber_takes_is_kept(
    make: Make, name: str, lgsp_rabbitmq_url: str
) -> None:
    publisher = await make()
    async with raw_channel(lgsp_rabbitmq_url) as channel:
        kept = await tap(channel, UNROUTED)
        unrouted = event(name, 1)
        await publisher.publish(unrouted)  # confirmed although no one subscribes
        message = await get_one(kept)
        assert message.message_id == unrouted.event_id
        assert message.routing_key == name


# -- the broker going away --------------------------------------------------


@amqp
async def test_broker_restart(make: Make, name: str, lgsp_rabbitmq_node: RabbitNode) -> None:
    gateway, provider, publisher = await make(), await make(), await make()
    service, hanging = f"{name}.svc", f"{name}.hang"
    entered, release = asyncio.Event(), asyncio.Event()

    async def hang(e: Envelope) -> Reply:
        entered.set()
        await release.wait()
        return Reply(200, b"{}")

    await provider.serve(service, 1, echo, instance="p1")
    await provider.serve(hanging, 1, hang, instance="p1")
    away = await make()
    await away.subscribe(name, name, Inbox().handle)
    await away.close()
    before = [event(name, n) for n in range(2)]
    for e in before:
        await publisher.publish(e)  # confirmed: on disk in the subscriber's queue
    in_flight = asyncio.create_task(gateway.request(envelope(hanging, timeout=60)))
    await entered.wait()

    restart = asyncio.create_task(asyncio.to_thread(lgsp_rabbitmq_node.restart))
    try:
        # The reply can no longer come: 503 at once, not 504 in a minute.
        with pytest.raises(ServiceUnavailable):
            await in_flight
        await eventually(lambda: not gateway.ready(), "the gateway notices", timeout=30)
        with pytest.raises(ServiceUnavailable):
            await gateway.request(envelope(service))
        with pytest.raises(ServiceUnavailable):
            await publisher.publish(event(name, 99))
    finally:
        release.set()
        await restart

    for t in (gateway, provider, publisher):
        await eventually(t.ready, "every transport reconnects", timeout=30)
    inbox = Inbox()
    await (await make()).subscribe(name, name, inbox.handle)
    assert [e.event_id for e in await inbox.wait_for(2)] == [e.event_id for e in before]
    # Declarations and consumers (direct reply-to included) came back by themselves.
    await eventually(lambda: gateway.providers_online(service, 1) == 1, "the provider is back")
    assert (await gateway.request(envelope(service))).status == 200
    after = event(name, 3)
    await publisher.publish(after)
    assert (await inbox.wait_for(3))[-1].event_id == after.event_id


@amqp
async def test_a_handler_outlives_its_lost_connection(
    make: Make, name: str, lgsp_rabbitmq_node: RabbitNode
) -> None:
    # aio-pika cancels a channel's delivery tasks when the connection is lost.
    # A subscriber's handler must not be cut short there: one that had done
    # its work, but not yet noted it, would do it again on the redelivery.
    publisher, subscriber = await make(), await make()
    entered, release = asyncio.Event(), asyncio.Event()
    runs: list[str] = []

    async def handle(e: Event) -> None:
        runs.append("started")
        if len(runs) > 1:
            return  # the redelivery
        entered.set()
        try:
            await release.wait()
        except asyncio.CancelledError:
            runs.append("cancelled")
            raise
        runs.append("finished")

    assert isinstance(subscriber, AmqpTransport)
    await subscriber.subscribe(name, name, handle)
    await publisher.publish(event(name, 1))
    await entered.wait()
    closed = await asyncio.to_thread(
        lgsp_rabbitmq_node.close_connections, subscriber.connection_name
    )
    assert closed == 1
    # Unacknowledged on the lost channel: delivered again on the new one.
    await eventually(lambda: runs.count("started") == 2, "the event is redelivered", timeout=30)
    release.set()
    await eventually(lambda: "finished" in runs or "cancelled" in runs, "the first run ends")
    assert runs == ["started", "started", "finished"]


@amqp
async def test_notices_missed_while_the_broker_was_away_are_made_good(
    make: Make, name: str, lgsp_rabbitmq_node: RabbitNode
) -> None:
    """A notice is at most once; what a process may have missed while its
    connection was down, its listeners are told when it is back (None), and
    a notice it could not send then goes out."""
    sender, receiver = await make(), await make()
    assert isinstance(sender, AmqpTransport)
    assert isinstance(receiver, AmqpTransport)
    subject = f"{name}.changed"
    own: list[bytes | None] = []
    heard: list[bytes | None] = []
    sender.listen(subject, own.append)
    receiver.listen(subject, heard.append)
    await asyncio.to_thread(lgsp_rabbitmq_node.kill)  # its folder stays: start() brings it back
    try:
        await eventually(lambda: not sender.ready(), "the sender notices", timeout=30)
        await sender.broadcast(subject, b"while away")  # kept: no broker to take it
        assert own == heard == []
    finally:
        await asyncio.to_thread(lgsp_rabbitmq_node.start)
    for t in (sender, receiver):
        await eventually(t.ready, "every transport reconnects", timeout=30)
    await eventually(lambda: None in heard, "the receiver is told it may have missed some")
    await eventually(lambda: b"while away" in own, "the kept notice went out once back")
    assert None in own


# -- queue statistics -------------------------------------------------------


# A subscriber away while its durable queue fills, and a queue deleted by
# someone else: neither exists in one process.
@amqp
async def test_queue_stats_show_consumers_and_a_lagging_subscriber(
    make: Make, name: str, lgsp_rabbitmq_url: str
) -> None:
    gateway, provider, subscriber = await make(), await make(), await make()
    await provider.serve(name, 1, echo, instance="p1")
    await subscriber.subscribe(name, name, Inbox().handle)
    svc, sub = f"lgsp.svc.{name}.v1", f"lgsp.sub.{name}.{name}"

    async def stats() -> dict[str, tuple[str, int, int]]:
        return {q.name: (q.kind, q.messages, q.consumers) for q in await gateway.queue_stats()}

    # The gateway learns both queues from presence alone.
    deadline = time.monotonic() + 10
    while not {svc, sub} <= set(seen := await stats()):
        assert time.monotonic() < deadline, "the gateway never heard of the queues"
        await asyncio.sleep(0.05)
    assert seen[svc] == ("service", 0, 1)
    assert seen[sub] == ("subscriber", 0, 1)
    assert seen["lgsp.dead-letters"][0] == "dead-letter"

    # The subscriber goes away: its durable queue keeps what it misses.
    await subscriber.close()
    for n in range(3):
        await gateway.publish(event(name, n))
    deadline = time.monotonic() + 10
    while (seen := await stats())[sub] != ("subscriber", 3, 0):
        assert time.monotonic() < deadline, f"lag never showed: {seen[sub]}"
        await asyncio.sleep(0.05)

    # A queue deleted behind the transport's back is skipped, not recreated,
    # and the next statistics still come.
    async with raw_channel(lgsp_rabbitmq_url) as channel:
        await channel.queue_delete(sub)
    seen = await stats()
    assert sub not in seen
    assert svc in seen
    assert svc in await stats()
    async with raw_channel(lgsp_rabbitmq_url) as channel:
        with pytest.raises(aio_pika.exceptions.ChannelNotFoundEntity):
            await channel.declare_queue(sub, passive=True)


async def test_a_missing_virtual_host_is_named(lgsp_rabbitmq_url: str) -> None:
    """A province's transport on a virtual host nobody made: the error says
    which host and how to make it, not a frame name."""
    transport = AmqpTransport(lgsp_rabbitmq_url.rstrip("/") + "/no-such-province")
    with pytest.raises(BrokerUnreachable, match=r"virtual host 'no-such-province'.*add_vhost"):
        await transport.start()
    await transport.close()

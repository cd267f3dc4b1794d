"""Engine-specific behaviour of the AMQP transport, against a real RabbitMQ
node (the behaviour both engines share is in the behavioural suite,
test_protocol.py). Every test uses names of its own, so tests never see each
other's queues on the shared session broker."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol

import aio_pika
import pytest
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractQueue

from lgsp.envelope import Envelope, Event, Reply
from lgsp.errors import ServiceTimeout, ServiceUnavailable
from lgsp.testing.rabbitmq import RabbitNode
from lgsp.transport import MemoryTransport, create_transport
from lgsp.transport.amqp import DLX, UNROUTED, AmqpTransport, BrokerUnreachable, masked
from lgsp.transport.base import ProviderHandler

amqp = pytest.mark.amqp


class Make(Protocol):
    async def __call__(self, **options: Any) -> AmqpTransport: ...


@pytest.fixture
async def make(rabbitmq_url: str) -> AsyncIterator[Make]:
    """Start transports (each its own connection, as separate processes
    would have) with fast presence timings; all are closed after the test."""
    made: list[AmqpTransport] = []

    async def start(**options: Any) -> AmqpTransport:
        settings: dict[str, Any] = {
            "heartbeat_interval": 0.2,
            "provider_ttl": 1.0,
            "retry_delay": 0.01,
            "reconnect_interval": 0.3,
        }
        transport = AmqpTransport(rabbitmq_url, **(settings | options))
        await transport.start()
        made.append(transport)
        return transport

    yield start
    for transport in reversed(made):
        await transport.close()


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


async def eventually(check: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    """Poll a condition until it holds, failing after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        await asyncio.sleep(0.01)


async def get_one(queue: AbstractQueue, timeout: float = 10.0) -> AbstractIncomingMessage:
    deadline = time.monotonic() + timeout
    while (message := await queue.get(fail=False, no_ack=True)) is None:
        assert time.monotonic() < deadline, f"nothing arrived in {queue.name}"
        await asyncio.sleep(0.01)
    return message


def envelope(service: str, request_id: str = "r1", timeout: float = 5.0) -> Envelope:
    return Envelope(
        request_id=request_id,
        client="test.client",
        service=service,
        version=1,
        deadline=time.time() + timeout,
        body=b'{"text":"xin ch\xc3\xa0o"}',
        idempotency_key="idem-1",
    )


def event(topic: str, n: int) -> Event:
    return Event(topic, 1, "test.client", f"req-{n}", f'{{"n":{n}}}'.encode())


class Inbox:
    """Events one subscriber received, in order."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    async def handle(self, received: Event) -> None:
        self.events.append(received)

    async def wait_for(self, count: int) -> list[Event]:
        await eventually(lambda: len(self.events) >= count, f"{count} events arrived")
        return self.events


async def echo(e: Envelope) -> Reply:
    return Reply(200, e.body)


# -- requests ---------------------------------------------------------------


@amqp
async def test_request_reply_round_trip(make: Make, name: str) -> None:
    gateway, provider = await make(), await make()
    seen: list[Envelope] = []

    async def handler(e: Envelope) -> Reply:
        seen.append(e)
        return Reply(201, b'{"ok":true}')

    await provider.serve(name, 1, handler, instance="p1")
    sent = envelope(name, "req-42")
    reply = await gateway.request(sent)
    assert reply == Reply(201, b'{"ok":true}')
    [got] = seen
    assert (got.request_id, got.client, got.service, got.version) == (
        "req-42",
        "test.client",
        name,
        1,
    )
    assert got.body == sent.body
    assert got.idempotency_key == "idem-1"
    assert got.deadline == pytest.approx(sent.deadline, abs=0.001)
    assert gateway.ready()
    assert provider.ready()


@amqp
async def test_unavailable_until_a_provider_starts_then_after_it_leaves(
    make: Make, name: str
) -> None:
    gateway = await make()
    started = time.monotonic()
    with pytest.raises(ServiceUnavailable):
        await gateway.request(envelope(name))
    assert time.monotonic() - started < 1.0, "503 must not wait for the deadline"

    provider = await make()
    await provider.serve(name, 1, echo, instance="late")
    # Same gateway transport, no restart: served as soon as serve() returned.
    assert (await gateway.request(envelope(name))).status == 200
    await eventually(lambda: gateway.providers_online(name, 1) == 1, "the provider is listed")
    [info] = [p for p in gateway.providers() if p.service == name]
    assert (info.version, info.instance) == (1, "late")
    assert info.age < 1.0

    await provider.close()  # says provider.gone
    await eventually(lambda: gateway.providers_online(name, 1) == 0, "the provider is gone")
    started = time.monotonic()
    with pytest.raises(ServiceUnavailable):
        await gateway.request(envelope(name))
    assert time.monotonic() - started < 1.0


@amqp
async def test_provider_started_before_the_gateway(make: Make, name: str) -> None:
    provider = await make()
    await provider.serve(name, 1, echo, instance="early")
    gateway = await make()
    assert (await gateway.request(envelope(name))).status == 200
    # registry.query at start makes the provider announce itself at once.
    await eventually(lambda: gateway.providers_online(name, 1) == 1, "the provider is listed")


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


@amqp
async def test_two_providers_share_the_load(make: Make, name: str) -> None:
    gateway = await make()
    served: dict[str, int] = {"a": 0, "b": 0}

    def provider(instance: str) -> ProviderHandler:
        async def handle(e: Envelope) -> Reply:
            served[instance] += 1
            return Reply(200, b"{}")

        return handle

    for instance in ("a", "b"):
        await (await make()).serve(name, 1, provider(instance), instance=instance)
    replies = await asyncio.gather(*(gateway.request(envelope(name, f"r{i}")) for i in range(20)))
    assert all(r.status == 200 for r in replies)
    assert sum(served.values()) == 20
    assert served["a"] > 0
    assert served["b"] > 0
    await eventually(lambda: gateway.providers_online(name, 1) == 2, "both are listed")


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
async def test_events_reach_every_subscriber_in_order(make: Make, name: str) -> None:
    publisher = await make()
    inboxes = {"one": Inbox(), "two": Inbox()}
    for sub, inbox in inboxes.items():
        await (await make()).subscribe(name, f"{name}.{sub}", inbox.handle)
    sent = [event(name, n) for n in range(3)]
    for e in sent:
        await publisher.publish(e)
    for inbox in inboxes.values():
        got = await inbox.wait_for(3)
        assert [e.event_id for e in got] == [e.event_id for e in sent]
        assert [(e.topic, e.version, e.client, e.request_id, e.body) for e in got] == [
            (e.topic, e.version, e.client, e.request_id, e.body) for e in sent
        ]
        assert [e.published for e in got] == pytest.approx([e.published for e in sent])
    # Subscribers in other processes announce themselves to the catalogue.
    expected = {f"{name}.one", f"{name}.two"}
    await eventually(lambda: set(publisher.subscribers(name)) == expected, "both are listed")


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
async def test_failing_subscriber_ends_in_dead_letters(
    make: Make, name: str, rabbitmq_url: str
) -> None:
    publisher, subscriber = await make(), await make(max_attempts=3)
    attempts: list[str] = []

    async def broken(received: Event) -> None:
        attempts.append(received.event_id)
        raise RuntimeError("always fails")

    await subscriber.subscribe(name, name, broken)
    async with raw_channel(rabbitmq_url) as channel:
        dead = await tap(channel, DLX)
        poison = event(name, 1)
        await publisher.publish(poison)
        message = await get_one(dead)
        assert message.message_id == poison.event_id
        assert message.headers["x-first-death-reason"] == "delivery_limit"
    assert attempts == [poison.event_id] * 3


@amqp
async def test_an_event_no_subscriber_takes_is_kept(
    make: Make, name: str, rabbitmq_url: str
) -> None:
    publisher = await make()
    async with raw_channel(rabbitmq_url) as channel:
        kept = await tap(channel, UNROUTED)
        unrouted = event(name, 1)
        await publisher.publish(unrouted)  # confirmed although no one subscribes
        message = await get_one(kept)
        assert message.message_id == unrouted.event_id
        assert message.routing_key == name


# -- the broker going away --------------------------------------------------


@amqp
async def test_broker_restart(make: Make, name: str, rabbitmq_node: RabbitNode) -> None:
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

    restart = asyncio.create_task(asyncio.to_thread(rabbitmq_node.restart))
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


async def test_unreachable_broker_is_service_unavailable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    transport = AmqpTransport(f"amqp://lgsp:s3cret@127.0.0.1:{port}/")
    with pytest.raises(ServiceUnavailable):
        await transport.request(envelope("a.b.c"))
    with pytest.raises(BrokerUnreachable) as raised:
        await transport.start()
    # A 503 to the gateway, a ConnectionError to retry loops (the CLI's).
    assert isinstance(raised.value, ServiceUnavailable)
    assert isinstance(raised.value, ConnectionError)
    assert "s3cret" not in str(raised.value)
    assert not transport.ready()


def test_create_transport_by_name() -> None:
    assert isinstance(create_transport("memory", amqp_url=None), MemoryTransport)
    amqp_transport = create_transport("amqp", amqp_url="amqp://guest:guest@127.0.0.1:5672/")
    assert isinstance(amqp_transport, AmqpTransport)
    assert amqp_transport.name == "amqp"
    with pytest.raises(ValueError, match="AMQP URL"):
        create_transport("amqp", amqp_url=None)
    with pytest.raises(ValueError, match="unknown transport"):
        create_transport("kafka", amqp_url=None)


def test_urls_are_logged_without_their_password() -> None:
    assert masked("amqp://lgsp:s3cret@broker:5672/vh") == "amqp://lgsp:***@broker:5672/vh"
    assert masked("amqp://broker/") == "amqp://broker/"


# -- queue statistics -------------------------------------------------------


@amqp
async def test_queue_stats_show_consumers_and_a_lagging_subscriber(
    make: Make, name: str, rabbitmq_url: str
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
    async with raw_channel(rabbitmq_url) as channel:
        await channel.queue_delete(sub)
    seen = await stats()
    assert sub not in seen
    assert svc in seen
    assert svc in await stats()
    async with raw_channel(rabbitmq_url) as channel:
        with pytest.raises(aio_pika.exceptions.ChannelNotFoundEntity):
            await channel.declare_queue(sub, passive=True)


async def test_queue_stats_of_a_transport_not_started() -> None:
    assert await AmqpTransport("amqp://guest:guest@127.0.0.1:1/").queue_stats() == []

"""The AMQP transport with quorum queues (``queue_type="quorum"``,
``LGSP_AMQP_QUEUE_TYPE=quorum``), on a virtual host of its own on the
session's node: everything every engine promises (the same contract as
test_amqp.py), every queue lgsp shares declared quorum, requests expiring
and dead-lettered as on classic queues, and a queue of the other type named
instead of breaking the channels others use."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import AsyncIterator

import pytest

from lgsp.envelope import Envelope, Event, Reply
from lgsp.errors import ServiceTimeout, ServiceUnavailable
from lgsp.testing.rabbitmq import RabbitNode
from lgsp.transport import Transport
from lgsp.transport.amqp import DEAD_LETTERS, DLX, UNROUTED, AmqpTransport, QueueTypeMismatch
from lgsp.transport.amqp.topology import (
    service_queue,
    service_queue_arguments,
    subscriber_queue,
)
from tests.behaviour.transport import test_amqp as classic
from tests.behaviour.transport.base import Inbox, Make, echo, envelope, event
from tests.support.waiting import eventually

amqp = pytest.mark.amqp


@pytest.fixture(scope="module")
def quorum_url(lgsp_rabbitmq_node: RabbitNode) -> str:
    # The dead letters and unrouted events are one queue each per virtual
    # host: quorum here, classic on the session's default one.
    return lgsp_rabbitmq_node.add_vhost("quorum-queues")


@contextlib.asynccontextmanager
async def quorum_transports(url: str) -> AsyncIterator[Make]:
    """test_amqp.py's transports, declaring quorum queues."""
    async with classic.transports(url) as start:

        async def quorum(**options: object) -> Transport:
            return await start(queue_type="quorum", **options)

        yield quorum


@pytest.fixture
async def make(quorum_url: str) -> AsyncIterator[Make]:
    async with quorum_transports(quorum_url) as start:
        yield start


@amqp
class TestAmqpQuorumTransport(classic.TestAmqpTransport):
    """Every promise of the engine, with quorum queues."""

    @pytest.fixture(autouse=True)
    def broker(self, quorum_url: str) -> None:
        self.url = quorum_url

    @pytest.fixture
    async def make(self, quorum_url: str) -> AsyncIterator[Make]:
        async with quorum_transports(quorum_url) as start:
            yield start

    def unstarted(self) -> Transport:
        return AmqpTransport(self.url, queue_type="quorum")


def queue_types(node: RabbitNode, vhost: str) -> dict[str, str]:
    listed = node.ctl("list_queues", "-p", vhost, "name", "type", "--quiet", "--no-table-headers")
    return dict(line.split("\t") for line in listed.splitlines() if line.strip())


@amqp
async def test_every_shared_queue_is_a_quorum_queue(
    make: Make, lgsp_rabbitmq_node: RabbitNode, quorum_url: str
) -> None:
    name = f"test.quorum.{time.monotonic_ns()}"
    provider = await make()
    await provider.serve(name, 1, echo, instance="p1")
    await provider.subscribe(name, name, Inbox().handle)
    types = await asyncio.to_thread(queue_types, lgsp_rabbitmq_node, "quorum-queues")
    for queue in (service_queue(name, 1), subscriber_queue(name, name), DEAD_LETTERS, UNROUTED):
        assert types[queue] == "quorum", queue
    # Presence queues are exclusive to their connection: classic, and made
    # again wherever the connection comes back.
    presence = [t for q, t in types.items() if q.startswith("lgsp.control.")]
    assert presence
    assert set(presence) == {"classic"}


@amqp
async def test_a_request_that_waited_too_long_expires_into_the_dead_letters(
    make: Make, quorum_url: str
) -> None:
    """Per-message TTL on a quorum queue: the request that outlived its
    deadline in the queue never reaches the provider, and is dead-lettered."""
    name = f"test.quorum.{time.monotonic_ns()}"
    gateway, provider = await make(), await make(prefetch=1)
    release = asyncio.Event()
    seen: list[str] = []

    async def handler(e: Envelope) -> Reply:
        seen.append(e.request_id)
        if e.request_id == "slow":
            await release.wait()
        return Reply(200, b"{}")

    await provider.serve(name, 1, handler, instance="p1")
    async with classic.raw_channel(quorum_url) as channel:
        dead = await classic.tap(channel, DLX)
        slow = asyncio.create_task(gateway.request(envelope(name, "slow", timeout=5)))
        await eventually(lambda: seen == ["slow"], "the slow request is taken")
        with pytest.raises(ServiceTimeout):
            await gateway.request(envelope(name, "stale", timeout=0.3))
        expired = await classic.get_one(dead)
        assert expired.message_id == "stale"
        assert expired.headers["x-first-death-reason"] == "expired"
        release.set()
        assert (await slow).status == 200
    assert seen == ["slow"]


@amqp
async def test_a_classic_process_on_quorum_queues_is_told_which_queue_and_the_fix(
    make: Make, quorum_url: str
) -> None:
    await make()  # the shared queues exist, as quorum queues
    transport = AmqpTransport(quorum_url, queue_type="classic")
    with pytest.raises(QueueTypeMismatch, match=r"'lgsp\.dead-letters'.*exists as a quorum queue"):
        await transport.start()
    assert not transport.ready()
    await transport.close()


@amqp
async def test_a_service_queue_of_the_other_type_is_named_and_others_keep_serving(
    make: Make, quorum_url: str
) -> None:
    name = f"test.quorum.{time.monotonic_ns()}"
    gateway, provider = await make(), await make()
    await provider.serve(f"{name}.fine", 1, echo, instance="p1")
    async with classic.raw_channel(quorum_url) as channel:
        # Left from a deployment on classic queues.
        await channel.declare_queue(
            service_queue(f"{name}.old", 1),
            durable=True,
            arguments=service_queue_arguments("classic"),
        )
    with pytest.raises(QueueTypeMismatch) as refused:
        await provider.serve(f"{name}.old", 1, echo, instance="p1")
    assert f"'lgsp.svc.{name}.old.v1'" in str(refused.value)
    assert "exists as a classic queue" in str(refused.value)
    assert f"rabbitmqctl delete_queue -p quorum-queues lgsp.svc.{name}.old.v1" in str(refused.value)
    # The refusal closed a channel of its own, not the one serving the rest.
    assert (await gateway.request(envelope(f"{name}.fine"))).status == 200


@amqp
async def test_events_the_queues_refuse_are_503_and_publishing_resumes_when_they_take_them(
    make: Make, lgsp_rabbitmq_node: RabbitNode
) -> None:
    """A nack is a 503, never a 202, and the events channel the broker
    nacked on is replaced by a new one that publishes as the old did."""
    name = f"test.quorum.{time.monotonic_ns()}"
    publisher, away = await make(), await make()
    await away.subscribe(name, name, Inbox().handle)  # its queue now exists
    await away.close()
    # A full queue that refuses more: the broker nacks what is published to it.
    pattern = f"^{re.escape(subscriber_queue(name, name))}$"
    full = '{"max-length": 1, "overflow": "reject-publish"}'
    ctl = lgsp_rabbitmq_node.ctl
    await asyncio.to_thread(ctl, "set_policy", "-p", "quorum-queues", name, pattern, full)
    taken: list[Event] = []

    async def refused(n: int) -> bool:
        sent = event(name, n)
        try:
            await publisher.publish(sent)
        except ServiceUnavailable:
            return True
        taken.append(sent)
        return False

    # What the transport counts, not its log lines: a logger cached by an
    # earlier test's configuration escapes capture_logs in a full run.
    renewals = publisher._publisher.renewals  # type: ignore[attr-defined]
    try:
        await eventually(lambda: refused(0), "the queue refuses")
        await eventually(
            lambda: publisher._publisher.renewals > renewals,  # type: ignore[attr-defined]
            "the events channel is renewed",
        )
    finally:
        await asyncio.to_thread(ctl, "clear_policy", "-p", "quorum-queues", name)

    async def accepted() -> bool:
        return not await refused(1)

    await eventually(accepted, "events are taken again")
    inbox = Inbox()
    await (await make()).subscribe(name, name, inbox.handle)
    # What the full queue kept, then the one taken after: every 202, nothing else.
    received = await inbox.wait_for(len(taken))
    assert [e.event_id for e in received] == [e.event_id for e in taken]
    assert received[-1].body == b'{"n":1}'

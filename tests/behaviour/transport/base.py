"""What every transport engine promises, written once (as FastStream's
tests/brokers/base/ are) and run on each engine by a subclass in its own
module: test_memory.py and test_amqp.py.

A subclass says how to make its engine's transports (``make``: on memory one
shared engine, as one process has; on amqp a connection each, as separate
processes have) and the few things only it can say (how a provider leaves,
where dead letters are seen). What only one engine does stays in that
engine's module. Every test uses names of its own, so tests never see each
other's queues on the session's broker.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable
from typing import Any, ClassVar, Protocol

import pytest

from lgsp.envelope import Envelope, Event, Reply
from lgsp.errors import ContractMismatch, ServiceTimeout, ServiceUnavailable
from lgsp.testing import TransportKind
from lgsp.transport import Transport
from lgsp.transport.base import Broadcasting, ProviderHandler, QueueStats
from tests.support.waiting import eventually


class Make(Protocol):
    async def __call__(self, **options: Any) -> Transport: ...


class DeadLetters(Protocol):
    async def check(self, event: Event) -> None:
        """Assert that ``event`` (and only it, where the engine can tell) was
        dead-lettered."""


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


class TransportContract(abc.ABC):
    """The behaviour both engines promise (lgsp/transport/base.py)."""

    kind: ClassVar[TransportKind]
    heard_within: ClassVar[float]
    """Seconds since a provider online was last heard from, at most."""
    own_dead_letters: ClassVar[bool]
    """Whether the dead letters a test sees are its own only (an engine of
    the test's), or also every earlier test's (the session's broker)."""

    @pytest.fixture
    def name(self) -> str:
        """A unique service, topic or subscriber name for this test."""
        return f"test.{self.kind}.{uuid.uuid4().hex[:10]}"

    @abc.abstractmethod
    def make(self) -> Make:
        """A fixture: start transports with ``options`` of the engine
        (closed after the test)."""

    @abc.abstractmethod
    def unstarted(self) -> Transport:
        """A transport of this engine, never started."""

    @abc.abstractmethod
    async def leave(self, provider: Transport, instance: str) -> None:
        """Take the provider instance off the bus, as its process would."""

    @abc.abstractmethod
    async def settle(self, transport: Transport) -> None:
        """Let what was published be delivered as far as it goes, where the
        engine can be asked to (or nothing: the test then polls)."""

    @abc.abstractmethod
    def dead_letters(
        self, transport: Transport
    ) -> contextlib.AbstractAsyncContextManager[DeadLetters]:
        """Watch the dead letters from now on."""

    # -- requests -----------------------------------------------------------

    async def test_request_reply_round_trip(self, make: Make, name: str) -> None:
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

    async def test_unavailable_until_a_provider_starts_then_after_it_leaves(
        self, make: Make, name: str
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

        await self.leave(provider, "late")
        await eventually(lambda: gateway.providers_online(name, 1) == 0, "the provider is gone")
        started = time.monotonic()
        with pytest.raises(ServiceUnavailable):
            await gateway.request(envelope(name))
        assert time.monotonic() - started < 1.0

    async def test_a_passed_deadline_is_a_service_timeout(self, make: Make, name: str) -> None:
        gateway, provider = await make(), await make()
        release = asyncio.Event()

        async def slow(e: Envelope) -> Reply:
            await release.wait()
            return Reply(200, b"{}")

        await provider.serve(name, 1, slow, instance="slow")
        try:
            with pytest.raises(ServiceTimeout):
                await gateway.request(envelope(name, timeout=0.05))
        finally:
            release.set()

    async def test_two_providers_share_the_load(self, make: Make, name: str) -> None:
        gateway = await make()
        served: dict[str, int] = {"a": 0, "b": 0}

        def provider(instance: str) -> ProviderHandler:
            async def handle(e: Envelope) -> Reply:
                served[instance] += 1
                return Reply(200, b"{}")

            return handle

        for instance in ("a", "b"):
            await (await make()).serve(name, 1, provider(instance), instance=instance)
        replies = await asyncio.gather(
            *(gateway.request(envelope(name, f"r{i}")) for i in range(20))
        )
        assert all(r.status == 200 for r in replies)
        assert sum(served.values()) == 20
        assert served["a"] > 0
        assert served["b"] > 0
        await eventually(lambda: gateway.providers_online(name, 1) == 2, "both are listed")

    async def test_a_provider_built_against_another_contract_is_refused(
        self, make: Make, name: str
    ) -> None:
        published, other = "a" * 64, "b" * 64
        gateway = await make()
        gateway.expect_contracts({(name, 1): published})
        provider = await make()
        # A provider in another process learns what the gateway publishes.
        await eventually(
            lambda: provider._expected(name, 1) == published, "the provider heard the contracts"
        )
        with pytest.raises(ContractMismatch):
            await provider.serve(name, 1, echo, instance="other", fingerprint=other)
        await provider.serve(name, 1, echo, instance="same", fingerprint=published)
        assert (await gateway.request(envelope(name))).status == 200
        await eventually(lambda: gateway.providers_online(name, 1) == 1, "the provider is listed")
        assert {p.instance for p in gateway.providers() if p.service == name} == {"same"}

    # -- events ---------------------------------------------------------------

    async def test_publish_before_start_is_refused(self) -> None:
        with pytest.raises(ServiceUnavailable):
            await self.unstarted().publish(Event("a.b.c", 1, "c", "r", b"{}"))

    async def test_events_reach_every_subscriber_in_order(self, make: Make, name: str) -> None:
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
        # Subscribers (in other processes) are known to the catalogue.
        expected = {f"{name}.one", f"{name}.two"}
        await eventually(lambda: set(publisher.subscribers(name)) == expected, "both are listed")

    async def test_a_failing_subscriber_is_retried_then_dead_lettered(
        self, make: Make, name: str
    ) -> None:
        publisher = await make(max_attempts=3, retry_delay=0.001)
        subscriber = await make(max_attempts=3, retry_delay=0.001)
        flaky_attempts: list[str] = []
        broken_attempts: list[str] = []
        delivered: list[str] = []

        async def flaky(received: Event) -> None:
            flaky_attempts.append(received.event_id)
            if len(flaky_attempts) < 2:
                raise RuntimeError("first try fails")
            delivered.append(received.event_id)

        async def broken(received: Event) -> None:
            broken_attempts.append(received.event_id)
            raise RuntimeError("always fails")

        await subscriber.subscribe(name, f"{name}.flaky", flaky)
        await subscriber.subscribe(name, f"{name}.broken", broken)
        async with self.dead_letters(publisher) as dead:
            poison = event(name, 1)
            await publisher.publish(poison)
            await self.settle(subscriber)
            await eventually(lambda: len(broken_attempts) == 3, "every attempt was made")
            await dead.check(poison)
        await eventually(lambda: delivered == [poison.event_id], "the retry succeeded")
        assert broken_attempts == [poison.event_id] * 3

    # -- operations -------------------------------------------------------------

    async def test_queue_stats_show_providers_lag_and_dead_letters(
        self, make: Make, name: str
    ) -> None:
        gateway = await make(max_attempts=1)
        release = asyncio.Event()

        async def stuck(received: Event) -> None:
            await release.wait()

        async def broken(received: Event) -> None:
            raise RuntimeError("always fails")

        svc = f"lgsp.svc.{name}.v1"
        held, failing = f"lgsp.sub.{name}.stuck.{name}", f"lgsp.sub.{name}.broken.{name}"
        await (await make()).serve(name, 1, echo, instance="one")
        await (await make()).serve(name, 1, echo, instance="two")
        subscriber = await make(max_attempts=1)
        await subscriber.subscribe(name, f"{name}.stuck", stuck)
        await subscriber.subscribe(name, f"{name}.broken", broken)
        try:
            await eventually(lambda: gateway.providers_online(name, 1) == 2, "both are listed")

            async def stats() -> dict[str, QueueStats]:
                return {q.name: q for q in await gateway.queue_stats()}

            # The gateway learns every queue (on amqp from presence alone).
            deadline = time.monotonic() + 10
            while not {svc, held, failing} <= set(seen := await stats()):
                assert time.monotonic() < deadline, f"the gateway never heard of them: {seen}"
                await asyncio.sleep(0.05)
            before = seen["lgsp.dead-letters"].messages
            for n in range(3):
                await gateway.publish(event(name, n))
            # The stuck subscriber holds one event; two more wait behind it.
            # The broken one gives each up at once.
            deadline = time.monotonic() + 10
            while not (
                (seen := await stats())[held].messages == 2
                and seen[failing].messages == 0
                and seen["lgsp.dead-letters"].messages >= before + 3
            ):
                assert time.monotonic() < deadline, f"the lag never showed: {seen}"
                await asyncio.sleep(0.05)
            assert seen[svc].kind == "service"
            assert seen[svc].consumers == 2
            assert (seen[held].kind, seen[held].consumers) == ("subscriber", 1)
            dead = seen["lgsp.dead-letters"]
            assert dead.kind == "dead-letter"
            if self.own_dead_letters:
                assert dead.messages == before + 3 == 3
            ages = [p.age for p in gateway.providers() if p.service == name]
            assert len(ages) == 2
            assert all(0.0 <= age <= self.heard_within for age in ages), ages
        finally:
            release.set()

    # -- notices ----------------------------------------------------------------

    async def test_a_notice_reaches_every_listener_of_its_subject(
        self, make: Make, name: str
    ) -> None:
        sender, receiver = await make(), await make()
        assert isinstance(sender, Broadcasting)
        assert isinstance(receiver, Broadcasting)
        heard: list[bytes] = []
        own: list[bytes] = []
        other: list[bytes] = []

        def into(bodies: list[bytes]) -> Callable[[bytes | None], None]:
            # None says notices may have been missed: not a notice itself.
            return lambda body: None if body is None else bodies.append(body)

        stop = receiver.listen(f"{name}.changed", into(heard))
        sender.listen(f"{name}.changed", into(own))  # the sender's process hears it too
        receiver.listen(f"{name}.other", into(other))
        await sender.broadcast(f"{name}.changed", b"one")
        await eventually(lambda: heard == own == [b"one"], "every listener heard the notice")
        stop()
        await sender.broadcast(f"{name}.changed", b"two")
        await eventually(lambda: own == [b"one", b"two"], "the listener left heard the next")
        assert heard == [b"one"]
        assert other == []

"""Engine-specific behaviour of the memory transport (the shared behaviour
is in the behavioural suite, test_protocol.py)."""

from __future__ import annotations

import asyncio
import time

import pytest

from lgsp.envelope import Envelope, Event, Reply
from lgsp.errors import ServiceTimeout, ServiceUnavailable
from lgsp.transport.memory import MemoryTransport


def envelope(timeout: float = 5.0) -> Envelope:
    return Envelope("r1", "c", "a.b.c", 1, time.time() + timeout, b"{}")


async def test_round_robin_between_providers() -> None:
    t = MemoryTransport()
    await t.start()
    served: list[str] = []

    def provider(name: str):  # type: ignore[no-untyped-def]
        async def handle(e: Envelope) -> Reply:
            served.append(name)
            return Reply(200, b"{}")

        return handle

    await t.serve("a.b.c", 1, provider("one"), instance="one")
    await t.serve("a.b.c", 1, provider("two"), instance="two")
    for _ in range(4):
        await t.request(envelope())
    assert served == ["one", "two", "one", "two"]
    assert t.providers_online("a.b.c", 1) == 2
    await t.withdraw("one")
    assert t.providers_online("a.b.c", 1) == 1
    await t.close()


async def test_no_provider_and_deadline() -> None:
    t = MemoryTransport()
    await t.start()
    with pytest.raises(ServiceUnavailable):
        await t.request(envelope())

    async def slow(e: Envelope) -> Reply:
        await asyncio.sleep(10)
        return Reply(200, b"{}")

    await t.serve("a.b.c", 1, slow, instance="slow")
    with pytest.raises(ServiceTimeout):
        await t.request(envelope(timeout=0.05))
    await t.close()


async def test_failing_subscriber_is_retried_then_dead_lettered() -> None:
    t = MemoryTransport(max_attempts=3, retry_delay=0.001)
    await t.start()
    attempts: list[str] = []
    delivered: list[str] = []

    async def flaky(event: Event) -> None:
        attempts.append(event.event_id)
        if len(attempts) < 2:
            raise RuntimeError("first try fails")
        delivered.append(event.event_id)

    async def broken(event: Event) -> None:
        raise RuntimeError("always fails")

    await t.subscribe("a.b.happened", "flaky", flaky)
    await t.subscribe("a.b.happened", "broken", broken)
    event = Event("a.b.happened", 1, "c", "r1", b"{}")
    await t.publish(event)
    await t.close()  # drains both subscribers first
    assert delivered == [event.event_id]
    assert t.dead_letters == [event]


async def test_publish_before_start_is_refused() -> None:
    with pytest.raises(ServiceUnavailable):
        await MemoryTransport().publish(Event("a.b.c", 1, "c", "r", b"{}"))


async def test_queue_stats_show_providers_lag_and_dead_letters() -> None:
    t = MemoryTransport(max_attempts=1)
    await t.start()
    release = asyncio.Event()

    async def echo(e: Envelope) -> Reply:
        return Reply(200, e.body)

    async def stuck(event: Event) -> None:
        await release.wait()

    async def broken(event: Event) -> None:
        raise RuntimeError("always fails")

    await t.serve("a.b.c", 1, echo, instance="one")
    await t.serve("a.b.c", 1, echo, instance="two")
    await t.subscribe("a.b.happened", "stuck", stuck)
    await t.subscribe("a.b.happened", "broken", broken)
    for n in range(3):
        await t.publish(Event("a.b.happened", 1, "c", f"r{n}", b"{}"))
    deadline = time.monotonic() + 5
    while len(t.dead_letters) < 3:
        assert time.monotonic() < deadline, "the broken subscriber never gave up"
        await asyncio.sleep(0.01)
    stats = {q.name: q for q in await t.queue_stats()}
    assert stats["lgsp.svc.a.b.c.v1"].kind == "service"
    assert stats["lgsp.svc.a.b.c.v1"].consumers == 2
    # The stuck subscriber holds one event; two more wait behind it.
    assert stats["lgsp.sub.stuck.a.b.happened"].messages == 2
    assert stats["lgsp.sub.broken.a.b.happened"].messages == 0
    assert stats["lgsp.dead-letters"].kind == "dead-letter"
    assert stats["lgsp.dead-letters"].messages == 3
    # In-process providers are always heard from.
    assert [p.age for p in t.providers()] == [0.0, 0.0]
    release.set()
    await t.close()

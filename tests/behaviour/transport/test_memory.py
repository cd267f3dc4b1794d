"""The memory transport: what every engine promises (tests/behaviour/
transport/base.py), and what only this one does (strict round robin,
taking one provider instance offline)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from lgsp.envelope import Envelope, Event, Reply
from lgsp.transport import Transport
from lgsp.transport.memory import MemoryTransport
from tests.behaviour.transport.base import DeadLetters, Make, TransportContract
from tests.support.waiting import eventually

MEMORY_OPTIONS = ("max_attempts", "retry_delay", "drain_timeout")


class MemoryDeadLetters:
    def __init__(self, transport: MemoryTransport) -> None:
        self.transport = transport

    async def check(self, event: Event) -> None:
        await eventually(lambda: bool(self.transport.dead_letters), "it was dead-lettered")
        assert self.transport.dead_letters == [event]


class TestMemoryTransport(TransportContract):
    kind = "memory"
    heard_within = 0.0  # in-process providers are always heard from
    own_dead_letters = True

    @pytest.fixture
    async def make(self) -> AsyncIterator[Make]:
        """One engine per test, as one process has: the first call's options
        make it, later calls are the same engine (options only the AMQP
        engine has, such as prefetch, have no meaning here)."""
        made: list[MemoryTransport] = []
        chosen: dict[str, Any] = {}

        async def start(**options: Any) -> Transport:
            mine = {k: v for k, v in options.items() if k in MEMORY_OPTIONS}
            if not made:
                chosen.update(mine)
                made.append(MemoryTransport(**mine))
                await made[0].start()
            assert all(chosen.get(k) == v for k, v in mine.items()), (
                "one engine, one set of options"
            )
            return made[0]

        yield start
        for transport in made:
            await transport.close()

    def unstarted(self) -> Transport:
        return MemoryTransport()

    async def leave(self, provider: Transport, instance: str) -> None:
        # One engine for gateway and providers: a provider leaves by being
        # withdrawn (closing the engine would close the gateway too).
        assert isinstance(provider, MemoryTransport)
        await provider.withdraw(instance)

    async def settle(self, transport: Transport) -> None:
        # close() drains every subscriber first: what was accepted is done.
        await transport.close()

    @contextlib.asynccontextmanager
    async def dead_letters(self, transport: Transport) -> AsyncIterator[DeadLetters]:
        assert isinstance(transport, MemoryTransport)
        yield MemoryDeadLetters(transport)


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

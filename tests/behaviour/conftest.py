"""The behavioural suite's shared bus: one per module and transport, with
every mock system and the echo adapter."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from lgsp.testing import Bus, TransportKind
from tests.support.echo import Received, echo_bus


@pytest.fixture(scope="module")
def received(transport_kind: TransportKind) -> Received:
    """What the echo adapter of the module's ``bus`` saw."""
    return Received()


@pytest.fixture(scope="module")
async def bus(
    transport_kind: TransportKind, amqp_url: str | None, received: Received
) -> AsyncIterator[Bus]:
    """One bus with every mock system and the echo adapter, per transport."""
    async with echo_bus(transport_kind, amqp_url, received=received) as b:
        yield b

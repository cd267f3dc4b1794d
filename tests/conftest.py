from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.support import Bus, running_bus

pytest_plugins = ["tests.rabbitmq_fixture"]

TRANSPORTS = [pytest.param("memory"), pytest.param("amqp", marks=pytest.mark.amqp)]


@pytest.fixture(scope="module", params=TRANSPORTS)
def transport_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def amqp_url(transport_kind: str, request: pytest.FixtureRequest) -> str | None:
    if transport_kind != "amqp":
        return None
    return str(request.getfixturevalue("rabbitmq_url"))


@pytest.fixture(scope="module")
async def bus(transport_kind: str, amqp_url: str | None) -> AsyncIterator[Bus]:
    """One gateway with every mock system and the test adapter, per transport."""
    async with running_bus(transport_kind, amqp_url) as b:
        yield b

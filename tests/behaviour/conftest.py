"""The behavioural suite's shared bus: one per module and transport, with
every mock system and the echo adapter; and its shared network of two
provinces (each on its own virtual host on amqp)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from lgsp.config import ClientConfig, Settings, demo_clients
from lgsp.testing import Bus, Network, TransportKind, running_network
from lgsp.testing.rabbitmq import RabbitNode
from tests.support.echo import Received, echo_bus

PROVINCES = ("dongthap", "gialai")
"""The network of the behavioural tests."""
BROKER = "dongthap.broker"
"""A Đồng Tháp client granted more of Gia Lai than Gia Lai grants Đồng Tháp."""
BROKER_SECRET = "broker-secret-for-tests"


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


@pytest.fixture(scope="module")
async def network(
    transport_kind: TransportKind, request: pytest.FixtureRequest
) -> AsyncIterator[Network]:
    """Đồng Tháp and Gia Lai with NDXP between them, per transport; Đồng
    Tháp has the demo clients and :data:`BROKER`."""
    urls = None
    if transport_kind == "amqp":
        node: RabbitNode = request.getfixturevalue("lgsp_rabbitmq_node")
        module = request.module.__name__.rsplit(".", 1)[-1].replace("_", "-")
        urls = {p: node.add_vhost(f"{module}-{p}") for p in PROVINCES}
    broker = ClientConfig(
        id=BROKER, secret=BROKER_SECRET, grants=("land.*@*", "onestop.procedure.list@gialai")
    )
    dongthap = Settings(clients=(*demo_clients("dongthap"), broker))
    async with running_network(
        PROVINCES, transport_kind, amqp_urls=urls, settings={"dongthap": dongthap}
    ) as running:
        yield running

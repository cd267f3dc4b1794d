"""The transports without a broker: picking an engine by name, and the AMQP
engine when no broker answers (a 503, a URL logged without its password)."""

from __future__ import annotations

import socket
import time

import pytest

from lgsp.envelope import Envelope
from lgsp.errors import ServiceUnavailable
from lgsp.transport import MemoryTransport, create_transport
from lgsp.transport.amqp import AmqpTransport, BrokerUnreachable, masked


def envelope(service: str) -> Envelope:
    return Envelope("r1", "test.client", service, 1, time.time() + 5.0, b"{}")


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


async def test_queue_stats_of_a_transport_not_started() -> None:
    assert await AmqpTransport("amqp://guest:guest@127.0.0.1:1/").queue_stats() == []

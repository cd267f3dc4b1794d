"""A URL that names a cluster's nodes, without a broker: one URL per node,
the password never logged, bad lists refused, the queue type chosen by
setting, and a transport whose nodes all refuse failing as one broker does."""

from __future__ import annotations

import socket

import pytest

from lgsp.network import vhost_url
from lgsp.transport import create_transport
from lgsp.transport.amqp import AmqpTransport, BrokerUnreachable, masked
from lgsp.transport.amqp.nodes import HEARTBEAT_S, NodesConnection, node_address, node_urls
from lgsp.transport.amqp.topology import QueueTypeMismatch


def test_a_url_with_one_host_is_its_one_node() -> None:
    url = "amqp://lgsp:s3cret@broker:5672/vh?heartbeat=30"
    assert node_urls(url) == [url]


def test_each_node_keeps_the_user_virtual_host_and_query() -> None:
    url = "amqps://lgsp:s%2Cc@rabbit-1:5671,rabbit-2,[::1]:5673/dongthap?heartbeat=30"
    assert node_urls(url) == [
        "amqps://lgsp:s%2Cc@rabbit-1:5671/dongthap?heartbeat=30",
        "amqps://lgsp:s%2Cc@rabbit-2/dongthap?heartbeat=30",
        "amqps://lgsp:s%2Cc@[::1]:5673/dongthap?heartbeat=30",
    ]
    assert [node_address(u) for u in node_urls(url)] == [
        "rabbit-1:5671",
        "rabbit-2:5671",  # the scheme's port
        "[::1]:5673",
    ]


def test_a_province_virtual_host_goes_on_every_node() -> None:
    cluster = "amqp://lgsp:x@h1:5672,h2:5672/"
    assert node_urls(vhost_url(cluster, "gialai")) == [
        "amqp://lgsp:x@h1:5672/gialai",
        "amqp://lgsp:x@h2:5672/gialai",
    ]


@pytest.mark.parametrize(
    "url", ["amqp://u:p@h1:5672,,h3/", "amqp://u:p@h1:5672,h2:port/", "amqp://u:p@h1,:5672/"]
)
def test_a_bad_list_is_refused_without_its_password(url: str) -> None:
    with pytest.raises(ValueError, match="host or host:port") as raised:
        AmqpTransport(url)
    assert ":p@" not in str(raised.value)


def test_a_cluster_url_is_logged_without_its_password() -> None:
    assert masked("amqp://lgsp:s3cret@h1:5672,h2:5672/vh") == "amqp://lgsp:***@h1:5672,h2:5672/vh"
    assert masked("amqp://h1,h2/") == "amqp://h1,h2/"


async def test_the_connection_goes_round_the_nodes() -> None:
    connection = NodesConnection(["amqp://g:g@h1:1/", "amqp://g:g@h2:2/"], first=1)
    assert connection.node == "h2:2"
    # What a lost connection, or a failed attempt, hands it.
    for expected in ("h1:1", "h2:2", "h1:1"):
        lost = connection.loop.create_future()
        lost.set_exception(ConnectionError("gone"))
        await connection._on_connection_close(lost)
        assert connection.node == expected


async def test_every_node_refusing_is_one_unreachable_broker() -> None:
    ports = []
    for _ in range(3):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            ports.append(sock.getsockname()[1])
    hosts = ",".join(f"127.0.0.1:{port}" for port in ports)
    transport = AmqpTransport(f"amqp://lgsp:s3cret@{hosts}/")
    with pytest.raises(BrokerUnreachable) as raised:
        await transport.start()
    assert "s3cret" not in str(raised.value)
    assert not transport.ready()


def queue_type(given: str | None = None) -> str:
    transport = create_transport(
        "amqp", amqp_url="amqp://guest:guest@127.0.0.1:5672/", amqp_queue_type=given
    )
    assert isinstance(transport, AmqpTransport)
    return transport.queue_type


def test_the_queue_type_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LGSP_AMQP_QUEUE_TYPE", raising=False)
    assert queue_type() == "classic"
    monkeypatch.setenv("LGSP_AMQP_QUEUE_TYPE", "quorum")
    assert queue_type() == "quorum"
    assert queue_type("classic") == "classic"
    monkeypatch.setenv("LGSP_AMQP_QUEUE_TYPE", "mirrored")
    with pytest.raises(ValueError, match=r"LGSP_AMQP_QUEUE_TYPE='mirrored'.*classic, quorum"):
        queue_type()


def test_a_queue_of_the_other_type_is_named_with_its_fix() -> None:
    service = QueueTypeMismatch("lgsp.svc.land.parcel.lookup.v1", "/", "quorum", "classic")
    assert str(service).startswith(
        "queue 'lgsp.svc.land.parcel.lookup.v1' (virtual host '/') exists as a classic queue"
    )
    assert "LGSP_AMQP_QUEUE_TYPE=quorum" in str(service)
    assert "rabbitmqctl delete_queue -p / lgsp.svc.land.parcel.lookup.v1" in str(service)
    subscriber = QueueTypeMismatch("lgsp.sub.warehouse.land.changed", "/", "quorum", "classic")
    assert "subscriber queues are quorum queues" in str(subscriber)


async def test_every_node_asks_for_a_short_heartbeat_unless_the_url_says() -> None:
    # The broker takes a hung process's consumers away after missed
    # heartbeats; aio-pika's default kept them for a minute or more.
    short = NodesConnection(node_urls("amqp://lgsp:x@h1:5672,h2:5672/dongthap"))
    assert [u.query.get("heartbeat") for u in short._nodes] == [str(HEARTBEAT_S)] * 2
    assert HEARTBEAT_S <= 10
    own = NodesConnection(["amqp://lgsp:x@h1:5672/dongthap?heartbeat=30"])
    assert own._nodes[0].query["heartbeat"] == "30"

"""The bus on a three-node RabbitMQ cluster with quorum queues (the kit's
``lgsp_rabbitmq_cluster``): it serves calls and delivers events, and when
the node its connections are on is killed (SIGKILL of the Erlang VM) under
a steady stream of both, it moves to another node and serves again within
seconds: every call answered (200, or 503/504 within its deadline), every
accepted event delivered. The figures are printed for the fault table."""

from __future__ import annotations

import asyncio
import collections
import collections.abc
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from lgsp.testing import Bus
from lgsp.testing.rabbitmq import RabbitCluster
from lgsp.transport.amqp import AmqpTransport
from tests.support.echo import Received, echo_adapter, echo_bus
from tests.support.waiting import eventually

pytestmark = pytest.mark.amqp

DEADLINE_S = 2.0
"""Each call's deadline (X-LGSP-Timeout-Ms)."""
CALLERS, PUBLISHERS = 4, 2
PACE_S = 0.02
"""Each caller's and publisher's pause between two requests."""
RECOVERY_GOAL_S = 10.0


@pytest.fixture(params=["together", "apart"])
def placement(request: pytest.FixtureRequest) -> str:
    """Where the adapters' connection is: on the gateway's node, or on the next one."""
    chosen: str = request.param
    return chosen


@pytest.fixture
async def cluster_bus(
    lgsp_rabbitmq_cluster: RabbitCluster, placement: str, request: pytest.FixtureRequest
) -> AsyncIterator[tuple[Bus, Received]]:
    """The echo bus on the cluster (a virtual host of the test's own), the
    gateway and the adapters each with a connection, as separate processes
    would have: the gateway on the first node, the adapters there too or
    on the second."""
    cluster = lgsp_rabbitmq_cluster
    vhost = "".join(c if c.isalnum() else "-" for c in request.node.name)[:60]
    url = cluster.add_vhost(vhost)
    provider_url = url if placement == "together" else cluster.url_for(vhost, first=1)
    received = Received()
    options = {"queue_type": "quorum", "reconnect_interval": 1.0}
    async with echo_bus(
        "amqp",
        url,
        adapters=[echo_adapter(received)],
        sidecars=False,
        gateway_transport=AmqpTransport(url, **options),
        provider_transport=AmqpTransport(provider_url, **options),
    ) as bus:
        yield bus, received
        for transport in (bus.gateway_transport, bus.provider_transport):
            await transport.close()


async def test_the_bus_on_a_cluster_serves_calls_and_delivers_events(
    cluster_bus: tuple[Bus, Received],
) -> None:
    bus, received = cluster_bus
    answers = [
        await bus.call("test.echo.call", {"text": f"xin chào {n}"}, version=1) for n in range(20)
    ]
    assert [a.status for a in answers] == [200] * 20
    assert answers[7].json == {"text": "xin chào 7", "client": "test.all"}
    for n in range(20):
        assert (await bus.publish("test.ping.sent", {"n": n})).status == 202
    await received.wait_for(20)
    assert sorted(p.n for p in received.events) == list(range(20))


@dataclass
class Stream:
    """What a steady stream of calls and events saw."""

    calls: collections.Counter[int] = field(default_factory=collections.Counter)
    late: list[float] = field(default_factory=list)
    """Calls answered after their deadline (and a second of slack)."""
    accepted: list[int] = field(default_factory=list)
    refused: collections.Counter[int] = field(default_factory=collections.Counter)
    fault: float | None = None
    """When the fault was done (monotonic)."""
    served_again: float | None = None
    """When a call made after the fault first succeeded."""
    accepting_again: float | None = None
    """When an event published after the fault was first accepted."""
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def caller(self, bus: Bus) -> None:
        headers = {"X-LGSP-Timeout-Ms": str(int(DEADLINE_S * 1000))}
        while not self.stop.is_set():
            started = time.monotonic()
            # A hang is a failure: nothing may take much longer than its deadline.
            async with asyncio.timeout(DEADLINE_S + 5):
                answer = await bus.send("test.echo.call", {"text": "?"}, version=1, headers=headers)
                await answer.read()
            took = time.monotonic() - started
            self.calls[answer.status] += 1
            if took > DEADLINE_S + 1:
                self.late.append(took)
            if answer.status == 200 and self.after_fault(started) and self.served_again is None:
                self.served_again = time.monotonic()
            await asyncio.sleep(PACE_S)

    async def publisher(self, bus: Bus, numbers: collections.abc.Iterator[int]) -> None:
        while not self.stop.is_set():
            n, started = next(numbers), time.monotonic()
            async with asyncio.timeout(DEADLINE_S + 10):
                answer = await bus.publish("test.ping.sent", {"n": n})
            if answer.status == 202:
                self.accepted.append(n)
                if self.after_fault(started) and self.accepting_again is None:
                    self.accepting_again = time.monotonic()
            else:
                self.refused[answer.status] += 1
            await asyncio.sleep(PACE_S)

    def after_fault(self, started: float) -> bool:
        return self.fault is not None and started >= self.fault


async def test_a_node_killed_under_load_loses_no_accepted_event(
    cluster_bus: tuple[Bus, Received],
    lgsp_rabbitmq_cluster: RabbitCluster,
    placement: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bus, received = cluster_bus
    cluster = lgsp_rabbitmq_cluster
    gateway, provider = bus.gateway_transport, bus.provider_transport
    assert isinstance(gateway, AmqpTransport)
    assert isinstance(provider, AmqpTransport)
    assert gateway.node is not None
    assert provider.node is not None
    # The node the gateway is on; apart, the gateway's stays up and the adapters' goes.
    victim = cluster.index(gateway.node if placement == "together" else provider.node)

    stream = Stream()
    numbers = iter(range(1_000_000))
    load = asyncio.gather(
        *(stream.caller(bus) for _ in range(CALLERS)),
        *(stream.publisher(bus, numbers) for _ in range(PUBLISHERS)),
    )
    try:
        await eventually(lambda: len(stream.accepted) >= 100, "the stream is flowing")
        await asyncio.to_thread(cluster.kill, victim)
        stream.fault = time.monotonic()
        await eventually(
            lambda: stream.served_again is not None and stream.accepting_again is not None,
            "calls answered and events accepted again",
            timeout=RECOVERY_GOAL_S + 5,
        )
        # Serving again, a while longer.
        settled = len(stream.accepted)
        await eventually(lambda: len(stream.accepted) >= settled + 100, "events flowing again")
    finally:
        stream.stop.set()
        await load
    for transport in (gateway, provider):
        assert transport.node is not None
        assert cluster.index(transport.node) != victim

    # Every accepted event reaches the subscriber (at least once).
    accepted = set(stream.accepted)
    await eventually(
        lambda: accepted <= {p.n for p in received.events},
        "every accepted event is delivered",
        timeout=30,
    )
    delivered = collections.Counter(p.n for p in received.events)
    duplicated = sum(count - 1 for n, count in delivered.items() if n in accepted)
    lost = len(accepted - set(delivered))
    assert stream.served_again is not None
    assert stream.accepting_again is not None
    recovered = max(stream.served_again, stream.accepting_again) - stream.fault
    with capsys.disabled():
        print(
            f"\ncluster node killed ({placement}): accepted={len(accepted)} "
            f"delivered={len(accepted) - lost} lost={lost} duplicated={duplicated} "
            f"refused={dict(stream.refused)} "
            f"calls={dict(sorted(stream.calls.items()))} late={len(stream.late)} "
            f"recovered_s={recovered:.2f}"
        )
    assert lost == 0
    assert set(stream.calls) <= {200, 503, 504}, stream.calls
    assert stream.late == []
    assert set(stream.refused) <= {503}, stream.refused
    assert recovered < RECOVERY_GOAL_S

    # The node comes back into the cluster, and the bus serves on.
    await asyncio.to_thread(cluster.start, victim)
    assert len(await asyncio.to_thread(cluster.running_nodes)) == len(cluster.nodes)
    assert (await bus.call("test.echo.call", {"text": "again"})).status == 200

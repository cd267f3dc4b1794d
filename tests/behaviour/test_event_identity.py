"""A subscriber knows which event it handles: ``Context.event_id`` is the
id the publisher was given, the same on every redelivery, so a subscriber
that keeps what it receives (the warehouse) deduplicates by it."""

from __future__ import annotations

from lgsp import Adapter, Context
from lgsp.testing import TransportKind
from tests.support.echo import Ping, echo_bus
from tests.support.waiting import eventually


async def test_a_redelivered_event_has_its_id(
    transport_kind: TransportKind, amqp_url: str | None
) -> None:
    seen: list[str | None] = []
    listener = Adapter("listener", agency="test")

    @listener.subscribe("test.ping.sent", name="test.identity")
    async def fail_once(event: Ping, ctx: Context) -> None:
        seen.append(ctx.event_id)
        if len(seen) == 1:
            raise RuntimeError("the first delivery fails: the bus delivers it again")

    async with echo_bus(transport_kind, amqp_url, adapters=[listener]) as bus:
        accepted = await bus.publish("test.ping.sent", {"n": 7})
        assert accepted.status == 202, accepted.json
        await eventually(lambda: len(seen) >= 2, "the event is delivered again", timeout=15)
    assert seen[0] == seen[1] == accepted.json["event_id"]

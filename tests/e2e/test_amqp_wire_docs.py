"""docs/amqp-wire.md cannot drift from the wire: every example message it
shows (a ```json block after an ``<!-- wire: NAME -->`` line) is held to the
message the amqp transport really sends, caught on a real broker by a plain
AMQP client: the same exchange and routing key, the same properties and
headers, equal constant values, and the documented format of the values
that change from message to message (ids, deadlines, instances)."""

from __future__ import annotations

import asyncio
import re
import secrets
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiormq
import aiormq.abc
import orjson
import pytest
import pytest_asyncio

from lgsp.catalogue.registry import Registry
from lgsp.envelope import Envelope, Event, Reply
from lgsp.transport.amqp import AmqpTransport, topology

DOC = Path(__file__).resolve().parents[2] / "docs" / "amqp-wire.md"
EXAMPLE = re.compile(r"^<!-- wire: ([\w.-]+) -->\n```json\n(.*?)^```$", re.MULTILINE | re.DOTALL)
REGISTRY = Registry.from_entry_points()
PARCEL = REGISTRY.service("land.parcel.lookup", 1)
TOPIC = "onestop.dossier.status-changed"

# The values that differ between two messages of one kind, by key: both the
# doc's example and the real message must have this form.
FORMS = {
    "message_id": r"[0-9a-f]{32}",
    "correlation_id": r"[0-9a-f]+",
    "expiration": r"[0-9]+",
    "lgsp-deadline": r"[0-9]{10}\.[0-9]{3}",
    "lgsp-published": r"[0-9]{10}\.[0-9]{6}",
    "reply_to": r"amq\.rabbitmq\.reply-to(\..+)?",
    "routing_key": r"lgsp\.svc\.[a-z0-9.-]+\.v[0-9]+|amq\.rabbitmq\.reply-to\..+|[a-z.-]+",
    "instance": r".+",
    "fingerprint": r"[0-9a-f]{64}",
    "lgsp-idempotency-key": r".+",
}


def doc_examples() -> dict[str, Any]:
    found = {m[1]: orjson.loads(m[2]) for m in EXAMPLE.finditer(DOC.read_text(encoding="utf-8"))}
    assert found, "no wire examples in the doc"
    return found


def seen(message: aiormq.abc.DeliveredMessage) -> dict[str, Any]:
    """A delivered message as the doc shows one: its properties as they are
    on the wire (expiration in milliseconds, as text)."""
    p = message.header.properties
    properties = {
        "content_type": p.content_type,
        "content_encoding": p.content_encoding,
        "delivery_mode": p.delivery_mode,
        "priority": p.priority,
        "correlation_id": p.correlation_id,
        "reply_to": p.reply_to,
        "expiration": p.expiration,
        "message_id": p.message_id,
        "timestamp": p.timestamp,
        "type": p.message_type,
        "user_id": p.user_id,
        "app_id": p.app_id,
    }
    body: Any = orjson.loads(message.body) if message.body else ""
    return {
        "exchange": message.delivery.exchange,
        "routing_key": message.delivery.routing_key,
        "properties": {k: v for k, v in properties.items() if v is not None},
        "headers": dict(p.headers or {}),
        "body": body,
    }


class Wire:
    """A plain AMQP client's view of the broker while two lgsp transports
    (a gateway and a provider) work on it."""

    def __init__(self) -> None:
        self.caught: dict[str, list[dict[str, Any]]] = {}
        self._changed = asyncio.Condition()

    async def add(self, name: str, message: aiormq.abc.DeliveredMessage) -> None:
        async with self._changed:
            self.caught.setdefault(name, []).append(seen(message))
            self._changed.notify_all()

    def catch(self, name: str) -> aiormq.abc.ConsumerCallback:
        async def on_message(message: aiormq.abc.DeliveredMessage) -> None:
            await self.add(name, message)

        return on_message

    async def nth(self, name: str, n: int = 1, timeout: float = 10.0) -> dict[str, Any]:
        """The ``n``-th message caught under ``name``, once it came."""
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(lambda: len(self.caught.get(name, ())) >= n)
        return self.caught[name][n - 1]


@pytest_asyncio.fixture
async def wire(lgsp_rabbitmq_url: str) -> AsyncIterator[dict[str, Any]]:
    """Every kind of message the doc shows, as the transport sent it."""
    connection = await aiormq.connect(lgsp_rabbitmq_url)
    channel = await connection.channel()
    caught = Wire()
    # Presence: a queue of our own on the control exchange, bound to everything.
    await channel.exchange_declare(topology.CONTROL, exchange_type="topic", durable=True)
    control = (await channel.queue_declare("", exclusive=True)).queue
    assert control is not None
    await channel.queue_bind(control, topology.CONTROL, routing_key="#")

    async def on_control(message: aiormq.abc.DeliveredMessage) -> None:
        await caught.add(message.delivery.routing_key, message)

    await channel.basic_consume(control, on_control, no_ack=True)

    fingerprint = REGISTRY.fingerprint(PARCEL.service, 1)
    gateway, provider = AmqpTransport(lgsp_rabbitmq_url), AmqpTransport(lgsp_rabbitmq_url)
    gateway.expect_contracts(REGISTRY.fingerprints)
    await gateway.start()
    await provider.start()
    tag = secrets.token_hex(3)
    subscriber = f"test.wire-{tag}"
    try:

        async def lookup(envelope: Envelope) -> Reply:
            if orjson.loads(envelope.body) == PARCEL.examples[0].request:
                return Reply(200, orjson.dumps(PARCEL.examples[0].response))
            return Reply.declared(404, "land.parcel.not_found", "no such parcel")

        # The gateway's request, taken by this client before any provider
        # consumes the queue (the gateway sees a consumer, so it sends), and
        # answered as the doc says: the gateway takes the answer.
        queue = topology.service_queue(PARCEL.service, 1)
        arguments = topology.service_queue_arguments("classic")
        await channel.queue_declare(queue, durable=True, arguments=arguments)

        async def on_request(message: aiormq.abc.DeliveredMessage) -> None:
            await caught.add("request", message)
            properties = message.header.properties
            answer = aiormq.spec.Basic.Properties(
                content_type="application/json",
                headers={"lgsp-status": 200},
                correlation_id=properties.correlation_id,
            )
            assert properties.reply_to is not None
            await channel.basic_publish(
                orjson.dumps(PARCEL.examples[0].response),
                routing_key=properties.reply_to,
                properties=answer,
            )
            await channel.basic_ack(message.delivery.delivery_tag)

        consumer = await channel.basic_consume(queue, on_request)
        envelope = Envelope(
            request_id=secrets.token_hex(16),
            client="dongthap.onestop",
            service=PARCEL.service,
            version=1,
            deadline=time.time() + 10,
            body=orjson.dumps(PARCEL.examples[0].request),
            idempotency_key="7f1c2e9a-retry-1",
        )
        reply = await gateway.request(envelope)
        assert reply.decode(PARCEL, envelope.request_id) is not None
        assert consumer.consumer_tag is not None
        await channel.basic_cancel(consumer.consumer_tag)

        instance = f"land@host:{tag}"
        await provider.serve(PARCEL.service, 1, lookup, instance=instance, fingerprint=fingerprint)

        # The provider's replies, to requests this client sends as the doc says.
        await channel.basic_consume(topology.REPLY_TO, caught.catch("reply"), no_ack=True)
        for n, request in enumerate([PARCEL.examples[0].request, {**PARCEL.examples[0].request,
                                     "soThuTuThua": 9999}]):  # fmt: skip
            properties = aiormq.spec.Basic.Properties(
                content_type="application/json",
                message_id=secrets.token_hex(16),
                correlation_id=str(n),
                reply_to=topology.REPLY_TO,
                expiration="10000",
                headers={
                    "lgsp-client": "interop.test",
                    "lgsp-service": PARCEL.service,
                    "lgsp-version": "1",
                    "lgsp-deadline": f"{time.time() + 10:.3f}",
                },
            )
            await channel.basic_publish(
                orjson.dumps(request),
                routing_key=topology.service_queue(PARCEL.service, 1),
                properties=properties,
            )
            await caught.nth("reply", n + 1)
        caught.caught["reply.error"] = caught.caught["reply"][1:]

        # An event the gateway publishes, on a subscriber queue declared as the doc says.
        sub = topology.subscriber_queue(subscriber, TOPIC)
        await channel.queue_declare(
            sub, durable=True, arguments=topology.subscriber_queue_arguments(5)
        )
        await channel.queue_bind(sub, topology.EVENTS, routing_key=TOPIC)
        body = orjson.dumps(REGISTRY.topic(TOPIC).examples[0])
        await gateway.publish(Event(TOPIC, 1, "dongthap.onestop", secrets.token_hex(16), body))
        first = await channel.basic_get(sub)
        caught.caught["event"] = [seen(first)]
        await channel.basic_nack(first.delivery.delivery_tag, requeue=True)
        again = await channel.basic_get(sub)
        caught.caught["event.redelivered"] = [seen(again)]
        await channel.basic_ack(again.delivery.delivery_tag)
        await channel.queue_delete(sub)

        await caught.nth(topology.HEARTBEAT)
        await caught.nth(topology.CONTRACTS)
        await caught.nth(topology.QUERY)
        await provider.close()
        await caught.nth(topology.GONE)
        ours = {
            key: next(m for m in caught.caught[key] if m["body"][0]["instance"] == instance)
            for key in (topology.HEARTBEAT, topology.GONE)
        }
        yield {name: messages[0] for name, messages in caught.caught.items()} | ours
    finally:
        await provider.close()
        await gateway.close()
        await connection.close()


def same_shape(doc: Any, real: Any, where: str, key: str = "") -> None:
    if key in FORMS and isinstance(real, str):
        for value in (doc, real):
            assert isinstance(value, str), f"{where}: {value!r} is not text"
            assert re.fullmatch(FORMS[key], value), f"{where}: {value!r} is not {FORMS[key]}"
        return
    if isinstance(real, dict):
        assert isinstance(doc, dict), f"{where}: the doc shows {doc!r}"
        assert sorted(doc) == sorted(real), f"{where}: keys {sorted(doc)} != {sorted(real)}"
        for k in real:
            same_shape(doc[k], real[k], f"{where}.{k}", k)
    elif isinstance(real, list):
        assert isinstance(doc, list), f"{where}: the doc shows {doc!r}"
        assert len(doc) == len(real), f"{where}: {doc!r} vs {real!r}"
        for i, (d, r) in enumerate(zip(doc, real, strict=True)):
            same_shape(d, r, f"{where}[{i}]", key)
    else:
        assert doc == real, f"{where}: the doc shows {doc!r}, the wire carries {real!r}"


SHOWN_AS = {
    "request": "request",
    "reply": "reply",
    "reply.error": "reply.error",
    "event": "event",
    "event.redelivered": "event.redelivered",
    "heartbeat": topology.HEARTBEAT,
    "gone": topology.GONE,
    "query": topology.QUERY,
}


@pytest.mark.amqp
async def test_every_example_in_the_doc_is_what_the_wire_carries(wire: dict[str, Any]) -> None:
    examples = doc_examples()
    assert sorted(examples) == sorted([*SHOWN_AS, "contracts"])
    for name, caught in SHOWN_AS.items():
        example, real = examples[name], wire[caught]
        same_shape(example, real, name)
    # The contracts a gateway announces: every version's, the doc shows one.
    contracts = examples["contracts"]
    real = wire[topology.CONTRACTS]
    (shown,) = contracts["body"]
    assert shown in real["body"]
    same_shape(contracts, real | {"body": [shown]}, "contracts")

"""Who is on the bus: this process's announcements on ``lgsp.control``
(heartbeats, ``provider.gone``, the contract fingerprints a gateway publishes)
and the tables of what every process announced, which answer whether a
service version has a provider online without asking the broker. A provider
built against another contract than the one published is refused here.
Heartbeats also carry what each adapter says of itself (its status hook),
so a gateway's dashboard shows adapters running in other processes.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import aio_pika
import orjson
from aio_pika.abc import (
    AbstractIncomingMessage,
    AbstractRobustExchange,
    AbstractRobustQueue,
    ConsumerTag,
)
from aio_pika.exceptions import AMQPError, ChannelInvalidStateError

from lgsp.errors import ContractMismatch
from lgsp.transport.amqp.connection import Link, cancel, log
from lgsp.transport.amqp.queues import Queues
from lgsp.transport.amqp.topology import (
    CONTRACTS,
    GONE,
    HEARTBEAT,
    NOTICE,
    QUERY,
    Declared,
    QueueType,
    service_queue,
    service_queue_arguments,
    subscriber_queue,
    type_mismatch,
)
from lgsp.transport.base import (
    AdapterStatus,
    Fingerprints,
    ProviderInfo,
    StatusHook,
    StatusValue,
    read_status,
)

ContractCheck = Callable[[str, int, str, str | None], ContractMismatch | None]
"""The refusal of a provider (service, version, instance, fingerprint), or None."""

# What another process's status may hold, at most: it is shown on a page.
_STATUS_KEYS = 32
_STATUS_TEXT = 200


@dataclass(slots=True)
class Serving:
    """A service version this process serves, and its consumer."""

    service: str
    version: int
    instance: str
    queue: AbstractRobustQueue
    tag: ConsumerTag
    fingerprint: str | None = None


@dataclass(slots=True)
class Subscribed:
    """A topic this process subscribes to, and its consumer."""

    topic: str
    name: str
    queue: AbstractRobustQueue
    tag: ConsumerTag


class Presence:
    """What this process announces and what it heard from every process
    (this one included), in monotonic times.

    ``serving`` and ``subscribed`` are filled by the parts that consume; this
    part announces them and withdraws from them (when asked, or when it hears
    that what one serves was built against another contract).
    """

    def __init__(
        self,
        link: Link,
        queues: Queues,
        *,
        heartbeat_interval: float,
        provider_ttl: float,
        broker_timeout: float,
        check_contract: ContractCheck,
        status_hooks: Callable[[], Mapping[str, tuple[str, StatusHook]]],
        queue_type: QueueType,
    ) -> None:
        self._link = link
        self._service_arguments = service_queue_arguments(queue_type)
        self._queues = queues
        self._heartbeat_interval = heartbeat_interval
        self._provider_ttl = provider_ttl
        self._broker_timeout = broker_timeout
        self._check_contract = check_contract
        self._control: AbstractRobustExchange | None = None

        self.serving: list[Serving] = []
        self.subscribed: list[Subscribed] = []
        self._published: Fingerprints = {}
        self._seen_providers: dict[tuple[str, int], dict[str, float]] = defaultdict(dict)
        self._seen_subscribers: dict[str, dict[str, float]] = defaultdict(dict)
        # Providers refused for another contract, kept while they keep
        # announcing (so the refusal is logged once, and never probed around).
        self._refused: dict[tuple[str, int], dict[str, float]] = defaultdict(dict)
        # Contract fingerprints that gateways announced.
        self._heard_contracts: dict[tuple[str, int], str] = {}
        self._probes: dict[tuple[str, int], asyncio.Future[int]] = {}
        # The status hooks of this process's adapters (kept by the transport),
        # and what other processes' adapters reported: (adapter, values, when).
        self._status_hooks = status_hooks
        self._heard_status: dict[str, tuple[str, dict[str, StatusValue], float]] = {}
        self.on_notice: Callable[[AbstractIncomingMessage], None] = _ignore
        """Takes the notices the control queue also carries."""

    async def listen(self, declared: Declared) -> None:
        """Announce on the declared control exchange, and hear on this
        process's presence queue."""
        self._control = declared.control
        await declared.presence.consume(self._on_control, no_ack=True)

    # -- announcing -------------------------------------------------------

    async def heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self._heartbeat_interval)
            await self.announce(HEARTBEAT)
            self._forget_stale()

    async def announce(self, key: str, serving: list[Serving] | None = None) -> None:
        """Tell every transport what this process serves (best effort: the
        next heartbeat repeats it)."""
        if key == HEARTBEAT and self._link.closing:
            return
        serving = self.serving if serving is None else serving
        entries: list[dict[str, object]] = [
            {
                "kind": "provider",
                "service": s.service,
                "version": s.version,
                "instance": s.instance,
                "fingerprint": s.fingerprint,
            }
            for s in serving
        ]
        if key == HEARTBEAT:
            transport_id = self._link.transport_id
            entries += [
                {
                    "kind": "subscriber",
                    "topic": s.topic,
                    "subscriber": s.name,
                    "instance": transport_id,
                }
                for s in self.subscribed
            ]
            entries += [
                {
                    "kind": "status",
                    "adapter": adapter,
                    "instance": instance,
                    "status": read_status(adapter, hook),
                }
                for instance, (adapter, hook) in self._status_hooks().items()
            ]
        elif key == GONE and serving is self.serving:
            # This whole process is leaving: its adapters' statuses go too.
            entries += [{"kind": "status", "instance": i} for i in self._status_hooks()]
        if entries:
            await self._control_publish(key, orjson.dumps(entries))

    async def withdraw(self, leaving: list[Serving]) -> None:
        """Stop serving these (their consumers are cancelled) and say so."""
        self.serving = [s for s in self.serving if all(s is not r for r in leaving)]
        for srv in leaving:
            await cancel(srv.queue, srv.tag)
        await self.announce(GONE, leaving)

    async def depart(self) -> None:
        """Stop taking work, and tell gateways at once (on close)."""
        for sub in self.subscribed:
            await cancel(sub.queue, sub.tag)
        for srv in self.serving:
            await cancel(srv.queue, srv.tag)
        await self.announce(GONE)

    def forget_own(self) -> None:
        """Closed: this process serves and subscribes to nothing any more."""
        self.serving.clear()
        self.subscribed.clear()

    def on_reconnected(self) -> None:
        # While the link was down, others forgot this process and this one
        # missed their news: say it all again, and ask.
        self._link.spawn(self.announce(HEARTBEAT), "lgsp-amqp-announce")
        self._link.spawn(self.announce_contracts(), "lgsp-amqp-contracts")
        self._link.spawn(self.query_registry(), "lgsp-amqp-query")

    async def query_registry(self) -> None:
        # Every serving process answers with a heartbeat at once.
        await self._control_publish(QUERY, b"")

    async def _control_publish(self, key: str, body: bytes) -> None:
        exchange = self._control
        if exchange is None or not self._link.ready():
            return
        try:
            async with asyncio.timeout(self._broker_timeout):
                await exchange.publish(
                    # An announcement older than the TTL means nothing.
                    aio_pika.Message(body, expiration=self._provider_ttl),
                    routing_key=key,
                    mandatory=False,
                )
        except (TimeoutError, AMQPError, ChannelInvalidStateError, ConnectionError):
            log.debug("amqp.announce_failed", key=key, exc_info=True)

    # -- contracts --------------------------------------------------------

    def expect(self, published: Fingerprints) -> None:
        """The fingerprints this process publishes (a gateway)."""
        self._published = published
        if self._link.connection is not None:
            # Already connected: what was heard was not checked. Tell, then
            # ask again (in that order: a refused provider stops consuming
            # before it answers).
            self._seen_providers.clear()
            self._link.spawn(self._recheck(), "lgsp-amqp-contracts")

    async def _recheck(self) -> None:
        await self.announce_contracts()
        await self.query_registry()

    def expected(self, service: str, version: int) -> str | None:
        key = (service, version)
        return self._published.get(key) or self._heard_contracts.get(key)

    async def announce_contracts(self) -> None:
        """Tell every process the fingerprints this one publishes (a gateway)."""
        if self._published:
            entries = [
                {"service": service, "version": version, "fingerprint": fingerprint}
                for (service, version), fingerprint in self._published.items()
            ]
            await self._control_publish(CONTRACTS, orjson.dumps(entries))

    async def _learn_contracts(self, entries: list[object]) -> None:
        for entry in entries:
            if isinstance(entry, dict):
                service, version = entry.get("service"), entry.get("version")
                fingerprint = entry.get("fingerprint")
                if (
                    isinstance(service, str)
                    and isinstance(version, int)
                    and isinstance(fingerprint, str)
                ):
                    self._heard_contracts[(service, version)] = fingerprint
        # Serving something built against another contract: stop taking its requests.
        refused = [
            s
            for s in self.serving
            if self._check_contract(s.service, s.version, s.instance, s.fingerprint) is not None
        ]
        if refused:
            await self.withdraw(refused)

    # -- hearing ----------------------------------------------------------

    async def _on_control(self, message: AbstractIncomingMessage) -> None:
        key = message.routing_key
        if key is not None and key.startswith(NOTICE):
            self.on_notice(message)  # not presence's: the transport's notices
            return
        if key == QUERY:
            await self.announce(HEARTBEAT)
            await self.announce_contracts()
            return
        try:
            entries = orjson.loads(message.body)
        except orjson.JSONDecodeError:
            log.warning("amqp.control_malformed", routing_key=key)
            return
        if key == CONTRACTS:
            await self._learn_contracts(entries if isinstance(entries, list) else [])
            return
        now = time.monotonic()
        for entry in entries if isinstance(entries, list) else ():
            self._note(entry, now, gone=key == GONE)

    def _note(self, entry: object, now: float, *, gone: bool) -> None:
        if not isinstance(entry, dict):
            return
        instance = entry.get("instance")
        if not isinstance(instance, str):
            return
        kind = entry.get("kind")
        if kind == "provider":
            service, version = entry.get("service"), entry.get("version")
            if isinstance(service, str) and isinstance(version, int):
                instances = self._seen_providers[(service, version)]
                refused = self._refused[(service, version)]
                if gone:
                    instances.pop(instance, None)
                    refused.pop(instance, None)
                    return
                fingerprint = entry.get("fingerprint")
                if instance in refused or (
                    self._check_contract(
                        service,
                        version,
                        instance,
                        fingerprint if isinstance(fingerprint, str) else None,
                    )
                    is not None
                ):
                    # Built against another contract: never counted online.
                    refused[instance] = now
                    instances.pop(instance, None)
                else:
                    instances[instance] = now
                    self._queues.know(service_queue(service, version), "service")
        elif kind == "subscriber":
            topic, name = entry.get("topic"), entry.get("subscriber")
            if isinstance(topic, str) and isinstance(name, str) and not gone:
                self._seen_subscribers[topic][name] = now
                self._queues.know(subscriber_queue(name, topic), "subscriber")
        elif kind == "status":
            adapter, values = entry.get("adapter"), entry.get("status")
            if gone:
                self._heard_status.pop(instance, None)
            elif isinstance(adapter, str) and isinstance(values, dict):
                self._heard_status[instance] = (adapter, _bounded(values), now)

    def _forget_stale(self) -> None:
        horizon = time.monotonic() - self._provider_ttl
        tables = (
            *self._seen_providers.values(),
            *self._seen_subscribers.values(),
            *self._refused.values(),
        )
        for table in tables:
            for name in [n for n, seen in table.items() if seen < horizon]:
                del table[name]
        for instance in [i for i, (_, _, seen) in self._heard_status.items() if seen < horizon]:
            del self._heard_status[instance]

    # -- answering --------------------------------------------------------

    async def online(self, service: str, version: int) -> bool:
        """Is a provider serving this version? The presence table answers at
        once; when it knows none, one round trip asks the broker whether the
        queue has a consumer (a provider that just started, before its first
        announcement arrived, or a gateway that just started)."""
        key = (service, version)
        seen = self._seen_providers.get(key)
        if seen:
            horizon = time.monotonic() - self._provider_ttl
            if any(t >= horizon for t in seen.values()):
                return True
        if any((s.service, s.version) == key for s in self.serving):
            return True
        if self._refused.get(key):
            # The queue's consumer may be the refused provider: never route to it.
            return False
        # Concurrent requests for the same unknown service share one check.
        probe = self._probes.get(key)
        if probe is None:
            probe = asyncio.ensure_future(self._consumer_count(service, version))
            self._probes[key] = probe
            probe.add_done_callback(lambda _: self._probes.pop(key, None))
        return await asyncio.shield(probe) > 0

    async def _consumer_count(self, service: str, version: int) -> int:
        channels = self._link.channels
        if channels is None:
            return 0
        try:
            async with asyncio.timeout(self._broker_timeout):
                await channels.probe.ready()
                channel = await channels.probe.get_underlay_channel()
                # A full (idempotent) declaration rather than a passive one: a
                # passive check of a queue that does not exist yet closes the
                # channel, failing every other check in flight on it. Declaring
                # the queue of a catalogued service version is harmless; its
                # provider declares the same.
                declared = await channel.queue_declare(
                    service_queue(service, version),
                    durable=True,
                    arguments=self._service_arguments,
                )
        except (TimeoutError, AMQPError, ChannelInvalidStateError, ConnectionError) as exc:
            if (mismatch := type_mismatch(exc)) is not None:
                log.error("amqp.queue_type_mismatch", queue=mismatch.queue, error=str(mismatch))
            else:
                log.warning("amqp.probe_failed", service=service, version=version, exc_info=True)
            return 0
        self._queues.know(service_queue(service, version), "service")
        return declared.consumer_count or 0

    def providers(self) -> list[ProviderInfo]:
        now = time.monotonic()
        horizon = now - self._provider_ttl
        found: dict[tuple[str, int, str], ProviderInfo] = {}
        for (service, version), instances in self._seen_providers.items():
            for instance, seen in instances.items():
                if seen >= horizon:
                    found[(service, version, instance)] = ProviderInfo(
                        service, version, instance, now - seen
                    )
        for srv in self.serving:
            # What this process serves is online by definition.
            found[(srv.service, srv.version, srv.instance)] = ProviderInfo(
                srv.service, srv.version, srv.instance, 0.0
            )
        return list(found.values())

    def heard_statuses(self) -> list[AdapterStatus]:
        """What other processes' adapters last said of themselves."""
        now = time.monotonic()
        horizon = now - self._provider_ttl
        return [
            AdapterStatus(adapter, instance, values, now - seen)
            for instance, (adapter, values, seen) in self._heard_status.items()
            if seen >= horizon and instance not in self._status_hooks()
        ]

    def subscribers(self, topic: str) -> list[str]:
        names = [s.name for s in self.subscribed if s.topic == topic]
        horizon = time.monotonic() - self._provider_ttl
        for name, seen in self._seen_subscribers.get(topic, {}).items():
            if seen >= horizon and name not in names:
                names.append(name)
        return names


def _ignore(_message: AbstractIncomingMessage) -> None:
    pass


def _bounded(values: dict[object, object]) -> dict[str, StatusValue]:
    """Another process's status, kept to a few short scalar values."""
    kept: dict[str, StatusValue] = {}
    for key, value in list(values.items())[:_STATUS_KEYS]:
        if isinstance(value, str):
            value = value[:_STATUS_TEXT]
        elif not (value is None or isinstance(value, int | float | bool)):
            continue
        kept[str(key)[:_STATUS_TEXT]] = value
    return kept

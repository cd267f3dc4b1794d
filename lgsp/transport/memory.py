"""The embedded engine: gateway, providers and subscribers in one process.

No broker to install; what ``make run`` starts. Requests are direct awaits on
the provider's handler (the validated payload travels as an object, never
re-serialised); each subscriber has its own queue and worker, so a slow or
failing subscriber never holds up the publisher or the others. Notices
(:class:`~lgsp.transport.base.Broadcasting`) are handed to this process's
listeners as they are sent.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

import structlog

from lgsp.envelope import Envelope, Event, Reply
from lgsp.errors import ServiceTimeout, ServiceUnavailable
from lgsp.transport.base import (
    EventHandler,
    Fingerprints,
    Listeners,
    NoticeListener,
    ProviderHandler,
    ProviderInfo,
    QueueStats,
    Transport,
)

log = structlog.get_logger("lgsp.transport.memory")


@dataclass
class _Provider:
    instance: str
    handler: ProviderHandler
    fingerprint: str | None = None


@dataclass
class _Subscriber:
    name: str
    topic: str
    handler: EventHandler
    queue: asyncio.Queue[Event] = field(default_factory=asyncio.Queue)
    task: asyncio.Task[None] | None = None


class MemoryTransport(Transport):
    """Everything in one process; see the module docstring."""

    name = "memory"

    def __init__(
        self, *, max_attempts: int = 5, retry_delay: float = 0.05, drain_timeout: float = 10.0
    ) -> None:
        self._drain_timeout = drain_timeout
        self._providers: dict[tuple[str, int], list[_Provider]] = defaultdict(list)
        self._turns: dict[tuple[str, int], itertools.count[int]] = defaultdict(itertools.count)
        self._subscribers: dict[str, list[_Subscriber]] = defaultdict(list)
        self._max_attempts = max_attempts
        self._retry_delay = retry_delay
        self._started = False
        self._listeners = Listeners()
        self.dead_letters: list[Event] = []
        """Events a subscriber failed on ``max_attempts`` times, kept for inspection."""

    async def start(self) -> None:
        self._started = True

    async def close(self) -> None:
        # Drain: let every subscriber finish what was accepted (within a grace
        # period: a subscriber may be waiting out an outage), then stop.
        try:
            async with asyncio.timeout(self._drain_timeout):
                for subs in self._subscribers.values():
                    for sub in subs:
                        await sub.queue.join()
        except TimeoutError:
            log.warning("transport.drain_timeout", pending=self._pending())
        for subs in self._subscribers.values():
            for sub in subs:
                if sub.task is not None:
                    sub.task.cancel()
        for subs in self._subscribers.values():
            for sub in subs:
                if sub.task is not None:
                    await asyncio.gather(sub.task, return_exceptions=True)
        self._subscribers.clear()
        self._providers.clear()
        self._started = False

    async def request(self, envelope: Envelope) -> Reply:
        key = (envelope.service, envelope.version)
        providers = self._providers.get(key)
        if not providers:
            raise ServiceUnavailable(
                f"no provider online for {envelope.service} v{envelope.version}"
            )
        provider = providers[next(self._turns[key]) % len(providers)]
        try:
            async with asyncio.timeout(envelope.remaining()):
                return await provider.handler(envelope)
        except TimeoutError:
            raise ServiceTimeout(f"{envelope.service} did not answer before the deadline") from None

    async def publish(self, event: Event) -> None:
        if not self._started:
            raise ServiceUnavailable("transport is not started")
        for sub in self._subscribers.get(event.topic, ()):
            sub.queue.put_nowait(event)

    def providers(self) -> list[ProviderInfo]:
        # In-process providers are heard from constantly: their age is nil.
        return [
            ProviderInfo(service, version, p.instance, 0.0)
            for (service, version), providers in self._providers.items()
            for p in providers
        ]

    async def queue_stats(self) -> list[QueueStats]:
        # Named as the AMQP engine names its queues, so one dashboard reads
        # both. Requests are direct awaits: a service queue never holds any.
        stats = [
            QueueStats(f"lgsp.svc.{service}.v{version}", "service", 0, len(providers))
            for (service, version), providers in self._providers.items()
        ]
        stats += [
            QueueStats(f"lgsp.sub.{sub.name}.{topic}", "subscriber", sub.queue.qsize(), 1)
            for topic, subs in self._subscribers.items()
            for sub in subs
        ]
        stats.append(QueueStats("lgsp.dead-letters", "dead-letter", len(self.dead_letters), 0))
        return stats

    def subscribers(self, topic: str) -> list[str]:
        return [s.name for s in self._subscribers.get(topic, ())]

    def ready(self) -> bool:
        return self._started

    async def serve(
        self,
        service: str,
        version: int,
        handler: ProviderHandler,
        *,
        instance: str,
        fingerprint: str | None = None,
    ) -> None:
        if (refusal := self._check_contract(service, version, instance, fingerprint)) is not None:
            raise refusal
        self._providers[(service, version)].append(_Provider(instance, handler, fingerprint))

    def expect_contracts(self, fingerprints: Fingerprints) -> None:
        super().expect_contracts(fingerprints)
        # Providers may have started before the gateway: refuse, now, those
        # built against another contract.
        for (service, version), providers in list(self._providers.items()):
            providers[:] = [
                p
                for p in providers
                if self._check_contract(service, version, p.instance, p.fingerprint) is None
            ]
            if not providers:
                del self._providers[(service, version)]

    async def subscribe(self, topic: str, subscriber: str, handler: EventHandler) -> None:
        sub = _Subscriber(subscriber, topic, handler)
        sub.task = asyncio.create_task(self._deliver(sub), name=f"lgsp-sub-{subscriber}-{topic}")
        self._subscribers[topic].append(sub)

    async def broadcast(self, subject: str, body: bytes = b"") -> None:
        """A notice to every listener in this process (:class:`~lgsp.transport.base.Broadcasting`):
        handed over at once, started or not; none is ever missed."""
        self._listeners.deliver(subject, body)

    def listen(self, subject: str, listener: NoticeListener) -> Callable[[], None]:
        return self._listeners.listen(subject, listener)

    async def withdraw(self, instance: str) -> None:
        """Take a provider instance offline (it stops receiving requests)."""
        for key, providers in list(self._providers.items()):
            providers[:] = [p for p in providers if p.instance != instance]
            if not providers:
                del self._providers[key]

    def _pending(self) -> int:
        return sum(s.queue.qsize() for subs in self._subscribers.values() for s in subs)

    async def _deliver(self, sub: _Subscriber) -> None:
        while True:
            event = await sub.queue.get()
            try:
                for attempt in range(1, self._max_attempts + 1):
                    try:
                        await sub.handler(event)
                        break
                    except asyncio.CancelledError:
                        raise
                    except Exception:
                        log.warning(
                            "event.delivery_failed",
                            topic=event.topic,
                            subscriber=sub.name,
                            event_id=event.event_id,
                            attempt=attempt,
                            exc_info=True,
                        )
                        if attempt < self._max_attempts:
                            await asyncio.sleep(self._retry_delay * 2 ** (attempt - 1))
                else:
                    self.dead_letters.append(event)
                    log.error(
                        "event.dead_lettered",
                        topic=event.topic,
                        subscriber=sub.name,
                        event_id=event.event_id,
                    )
            finally:
                sub.queue.task_done()

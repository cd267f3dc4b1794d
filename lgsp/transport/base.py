"""The transport interface: how envelopes travel between gateway and providers.

Two engines implement it: :mod:`lgsp.transport.memory` (everything in one
process, the embedded default) and :mod:`lgsp.transport.amqp` (RabbitMQ, for
separate processes on as many machines as needed). Code above this interface
never knows which one it runs on; both pass the same behavioural suite.
What only some engines may offer is a protocol of its own beside the
interface, asked for with ``isinstance``: :class:`Broadcasting` (notices to
every process on the bus).
"""

from __future__ import annotations

import abc
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal, Protocol, runtime_checkable

import structlog

from lgsp.envelope import Envelope, Event, Reply
from lgsp.errors import ContractMismatch

log = structlog.get_logger("lgsp.transport")

ProviderHandler = Callable[[Envelope], Awaitable[Reply]]
"""Serves one service version: answers every envelope with a reply. It must
not raise; a provider's failure is a 500 reply."""

EventHandler = Callable[[Event], Awaitable[None]]
"""Consumes one event. Raising means "not done": the event is delivered again
(at least once), and dead-lettered after repeated failures."""

Fingerprints = Mapping[tuple[str, int], str]
"""The contract fingerprint of each (service, version), as
:attr:`lgsp.catalogue.registry.Registry.fingerprints` computes it."""

StatusValue = str | int | float | bool | None
StatusHook = Callable[[], Mapping[str, StatusValue]]
"""What an adapter tells operators about itself (e.g. a circuit breaker's
state): a few named values, read whenever the dashboard asks. It must be
cheap and must not block."""


@dataclass(frozen=True, slots=True)
class ProviderInfo:
    """One provider instance online for a service version."""

    service: str
    version: int
    instance: str
    age: float
    """Seconds since the transport last heard from it."""


@dataclass(frozen=True, slots=True)
class AdapterStatus:
    """What one adapter instance last said about itself (its status hook)."""

    adapter: str
    instance: str
    values: Mapping[str, StatusValue]
    age: float
    """Seconds since it was read (0 for an adapter in this process)."""


@dataclass(frozen=True, slots=True)
class QueueStats:
    """A queue the transport holds, for operators: what waits in it and who
    consumes it."""

    name: str
    kind: Literal["service", "subscriber", "dead-letter"]
    messages: int
    """Messages ready, waiting for a consumer."""
    consumers: int


class Transport(abc.ABC):
    """Carries envelopes to providers and events to subscribers."""

    name: str
    _published: Fingerprints = MappingProxyType({})
    _status_hooks: dict[str, tuple[str, StatusHook]] | None = None

    @abc.abstractmethod
    async def start(self) -> None:
        """Connect (or get ready); idempotent."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Stop consuming, let in-flight work finish, then disconnect."""

    # -- gateway side -----------------------------------------------------

    @abc.abstractmethod
    async def request(self, envelope: Envelope) -> Reply:
        """Deliver the envelope to one provider of its service version and
        return its reply.

        Raises :class:`~lgsp.errors.ServiceUnavailable` when no provider is
        online or the broker is unreachable, and
        :class:`~lgsp.errors.ServiceTimeout` at the envelope's deadline.
        """

    @abc.abstractmethod
    async def publish(self, event: Event) -> None:
        """Return only once the event is durably accepted for every current
        and future delivery to the topic's subscribers.

        Raises :class:`~lgsp.errors.ServiceUnavailable` when it cannot be.
        """

    @abc.abstractmethod
    def providers(self) -> list[ProviderInfo]:
        """Every provider instance currently online."""

    def providers_online(self, service: str, version: int) -> int:
        return sum(1 for p in self.providers() if p.service == service and p.version == version)

    @abc.abstractmethod
    def subscribers(self, topic: str) -> list[str]:
        """Names of the subscribers of a topic known to this transport."""

    async def queue_stats(self) -> list[QueueStats]:
        """Depth and consumers of the transport's queues (service queues,
        subscriber queues, dead letters); empty when the engine has none."""
        return []

    def report_status(self, adapter: str, instance: str, hook: StatusHook) -> None:
        """Provider side: an adapter instance's status hook, read by
        :meth:`statuses` (and, on an engine that carries statuses, sent to
        the other processes)."""
        if self._status_hooks is None:
            self._status_hooks = {}
        self._status_hooks[instance] = (adapter, hook)

    @property
    def status_hooks(self) -> Mapping[str, tuple[str, StatusHook]]:
        """(adapter, hook) of every adapter instance reported here."""
        return self._status_hooks or {}

    def statuses(self) -> list[AdapterStatus]:
        """Gateway side: the status of every adapter this transport knows
        of; here, those reported in this process, read now (an engine that
        carries them between processes adds the others'). A hook that fails
        shows as ``{"error": ...}`` instead of failing the reader."""
        return [
            AdapterStatus(adapter, instance, read_status(adapter, hook), 0.0)
            for instance, (adapter, hook) in self.status_hooks.items()
        ]

    @abc.abstractmethod
    def ready(self) -> bool:
        """True when the transport can carry traffic (broker connected)."""

    def expect_contracts(self, fingerprints: Fingerprints) -> None:
        """Gateway side: the published contract of every service version. A
        provider that announces another fingerprint for one of them is
        refused and never gets traffic (one that announces none is trusted)."""
        self._published = dict(fingerprints)

    def _expected(self, service: str, version: int) -> str | None:
        """The published fingerprint of a service version, if known here."""
        return self._published.get((service, version))

    def _check_contract(
        self, service: str, version: int, instance: str, fingerprint: str | None
    ) -> ContractMismatch | None:
        """The refusal of a provider built against another contract (logged
        here, loudly), or None when it may serve."""
        expected = self._expected(service, version)
        if fingerprint is None or expected is None or fingerprint == expected:
            return None
        log.error(
            "provider.refused",
            service=service,
            version=version,
            instance=instance,
            expected=expected[:12],
            got=fingerprint[:12],
            transport=self.name,
        )
        return ContractMismatch(
            f"{service} v{version} ({instance}) was built against contract {fingerprint[:12]}, "
            f"but the bus publishes {expected[:12]}: a published version never changes, "
            "so build against the published contract or publish a new version"
        )

    # -- provider side ----------------------------------------------------

    @abc.abstractmethod
    async def serve(
        self,
        service: str,
        version: int,
        handler: ProviderHandler,
        *,
        instance: str,
        fingerprint: str | None = None,
    ) -> None:
        """Start serving a service version with this handler until close.

        ``fingerprint`` is that of the contract the provider was built
        against; raises :class:`~lgsp.errors.ContractMismatch` (and serves
        nothing) when the bus publishes another for this version."""

    @abc.abstractmethod
    async def subscribe(self, topic: str, subscriber: str, handler: EventHandler) -> None:
        """Deliver every event of the topic accepted from now on (and, for a
        durable subscriber, while it was away) to the handler."""


def read_status(adapter: str, hook: StatusHook) -> dict[str, StatusValue]:
    """A status hook's values, kept to what JSON carries as is (anything else
    as its text); a hook that raises reads as ``{"error": ...}``."""
    try:
        values = hook()
        return {
            str(k): v if v is None or isinstance(v, str | int | float | bool) else str(v)
            for k, v in values.items()
        }
    except Exception as exc:
        log.warning("adapter.status_failed", adapter=adapter, error=repr(exc))
        return {"error": f"status hook failed: {type(exc).__name__}"}


NoticeListener = Callable[[bytes | None], None]
"""Hears the notices of one subject: each one's body, or None when notices
may have been missed (the transport's link was lost and is back, or has just
come up): re-read whatever they would have said. It must not block."""


@runtime_checkable
class Broadcasting(Protocol):
    """An optional capability of a transport: short notices to every process
    on the bus (this one included), such as "the clients changed". A notice
    says only that something changed; its listeners re-read the truth from
    where it is kept. Delivery is at most once, so listeners also hear None
    whenever notices may have been missed, and do the same re-read then."""

    async def broadcast(self, subject: str, body: bytes = b"") -> None:
        """Send a notice to every listener of ``subject`` in every process.
        Never raises: a notice that cannot go now goes once the transport
        is connected again."""

    def listen(self, subject: str, listener: NoticeListener) -> Callable[[], None]:
        """Hand every notice of ``subject`` to ``listener``; returns what stops it."""


class Listeners:
    """The notice listeners of one process, by subject: what an engine that
    broadcasts hands each notice it receives to."""

    def __init__(self) -> None:
        self._by_subject: defaultdict[str, list[NoticeListener]] = defaultdict(list)

    def listen(self, subject: str, listener: NoticeListener) -> Callable[[], None]:
        listeners = self._by_subject[subject]
        listeners.append(listener)
        return lambda: listeners.remove(listener)

    def deliver(self, subject: str, body: bytes | None) -> None:
        for listener in list(self._by_subject.get(subject, ())):
            _hear(subject, listener, body)

    def missed(self) -> None:
        """Every listener hears None: notices may have been missed."""
        for subject, listeners in list(self._by_subject.items()):
            for listener in list(listeners):
                _hear(subject, listener, None)


def _hear(subject: str, listener: NoticeListener, body: bytes | None) -> None:
    # One listener that fails must not keep the notice from the others.
    try:
        listener(body)
    except Exception:
        log.exception("notice.listener_failed", subject=subject)

"""Prometheus metrics of the bus (names follow Prometheus conventions:
``lgsp_`` prefix, ``_total`` counters, ``_seconds`` histograms, bounded labels
only: never a request id or personal data). docs/metrics.md is the catalogue.

Most metrics are counted where things happen; what describes state elsewhere
(queue depths, heartbeat ages) is refreshed by :func:`refresh_periodically`
in the gateway process, off the scrape path, so a scrape never waits on the
broker."""

from __future__ import annotations

import asyncio
from typing import Final

import structlog
from prometheus_client import Counter, Gauge, Histogram, disable_created_metrics

from lgsp.observe.record import ExchangeRecord
from lgsp.transport.base import Transport

log = structlog.get_logger("lgsp.metrics")

# `_created` series double the exposition for no use on a dashboard.
disable_created_metrics()  # type: ignore[no-untyped-call]

REQUESTS = Counter(
    "lgsp_requests_total",
    "Synchronous exchanges answered by the gateway",
    ["service", "client", "status"],
)
REQUEST_ERRORS = Counter(
    "lgsp_request_errors_total",
    "Synchronous exchanges answered with a problem, by problem code",
    ["service", "code"],
)
LATENCY = Histogram(
    "lgsp_request_duration_seconds",
    "Time from receiving a service call to answering it",
    ["service"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
PARTNER_EXCHANGES = Counter(
    "lgsp_partner_exchanges_total",
    "Service calls between this LGSP's province and another through NDXP: 'out' to the "
    "partner's services, 'in' from the partner's clients",
    ["province", "partner", "direction", "status"],
)
IN_FLIGHT = Gauge("lgsp_requests_in_flight", "Service calls being handled right now")
EVENTS_PUBLISHED = Counter(
    "lgsp_events_published_total", "Events durably accepted by the transport", ["topic"]
)
EVENTS_DELIVERED = Counter(
    "lgsp_events_delivered_total",
    "Events handled successfully by a subscriber",
    ["topic", "subscriber"],
)
EVENTS_DUPLICATES = Counter(
    "lgsp_events_duplicates_total",
    "Deliveries of an event a subscriber had already processed (acknowledged, not handled again)",
    ["topic", "subscriber"],
)
PROVIDERS_ONLINE = Gauge(
    "lgsp_providers_online", "Provider instances online per service version", ["service", "version"]
)
HEARTBEAT_AGE = Gauge(
    "lgsp_provider_heartbeat_age_seconds",
    "Seconds since the least recently heard provider instance of a service version "
    "announced itself",
    ["service", "version"],
)
QUEUE_MESSAGES = Gauge(
    "lgsp_queue_messages",
    "Messages ready in a transport queue, waiting for a consumer",
    ["queue", "kind"],
)
QUEUE_CONSUMERS = Gauge("lgsp_queue_consumers", "Consumers of a transport queue", ["queue", "kind"])
DEAD_LETTERS = Gauge(
    "lgsp_dead_letters", "Messages in the dead-letter queues: what could not be delivered"
)

REFRESH_INTERVAL_S: Final = 2.0
"""How often the state gauges are refreshed (Prometheus scrapes every 5-15 s)."""


class ExchangeMetrics:
    """A :class:`~lgsp.observe.record.Recorder` that counts service calls by service,
    client and status, times them, and counts problems by code (declared, so
    the label set stays bounded). Label children are looked up once per
    combination, not on every exchange."""

    def __init__(self, province: str = "dongthap") -> None:
        self.province = province
        self._partners: dict[tuple[str, str, int], Counter] = {}
        self._requests: dict[tuple[str, str, int], Counter] = {}
        self._latency: dict[str, Histogram] = {}
        self._errors: dict[tuple[str, str], Counter] = {}

    def record(self, record: ExchangeRecord) -> None:
        if record.kind != "service":
            return
        service, status = record.name, record.status
        requests = self._requests.get((service, record.client, status))
        if requests is None:
            requests = REQUESTS.labels(service, record.client, str(status))
            self._requests[(service, record.client, status)] = requests
        requests.inc()
        partner = record.partner
        if partner is not None:
            self._count_partner(partner, "out" if record.target else "in", status)
        latency = self._latency.get(service)
        if latency is None:
            latency = self._latency[service] = LATENCY.labels(service)
        latency.observe(record.answered - record.received)
        if status >= 400:
            # A call the client abandoned (499) carries no problem code.
            key = (service, record.code or "-")
            errors = self._errors.get(key)
            if errors is None:
                errors = self._errors[key] = REQUEST_ERRORS.labels(*key)
            errors.inc()

    def _count_partner(self, partner: str, direction: str, status: int) -> None:
        key = (partner, direction, status)
        counter = self._partners.get(key)
        if counter is None:
            counter = PARTNER_EXCHANGES.labels(self.province, partner, direction, str(status))
            self._partners[key] = counter
        counter.inc()


async def refresh(transport: Transport) -> None:
    """Set the state gauges from what the transport knows now."""
    ages: dict[tuple[str, str], float] = {}
    for p in transport.providers():
        key = (p.service, str(p.version))
        ages[key] = max(ages.get(key, 0.0), p.age)
    stats = await transport.queue_stats()
    # Cleared first: a provider or queue that went away leaves no stale series.
    HEARTBEAT_AGE.clear()
    for (service, version), age in ages.items():
        HEARTBEAT_AGE.labels(service, version).set(age)
    QUEUE_MESSAGES.clear()
    QUEUE_CONSUMERS.clear()
    for q in stats:
        QUEUE_MESSAGES.labels(q.name, q.kind).set(q.messages)
        QUEUE_CONSUMERS.labels(q.name, q.kind).set(q.consumers)
    DEAD_LETTERS.set(sum(q.messages for q in stats if q.kind == "dead-letter"))


async def refresh_periodically(transport: Transport, interval: float = REFRESH_INTERVAL_S) -> None:
    """Refresh the state gauges until cancelled; a failed round is logged and
    the next one tries again."""
    while True:
        try:
            await refresh(transport)
        except Exception:
            # Statistics are best effort: never let them end the loop.
            log.warning("metrics.refresh_failed", exc_info=True)
        await asyncio.sleep(interval)

"""Prometheus metrics of the bus (names follow Prometheus conventions:
``lgsp_`` prefix, ``_total`` counters, ``_seconds`` histograms, bounded labels
only: never a request id or personal data)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, disable_created_metrics

# `_created` series double the exposition for no use on a dashboard.
disable_created_metrics()  # type: ignore[no-untyped-call]

REQUESTS = Counter(
    "lgsp_requests_total",
    "Synchronous exchanges answered by the gateway",
    ["service", "client", "status"],
)
LATENCY = Histogram(
    "lgsp_request_duration_seconds",
    "Time from receiving a service call to answering it",
    ["service"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
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
PROVIDERS_ONLINE = Gauge(
    "lgsp_providers_online", "Provider instances online per service version", ["service", "version"]
)

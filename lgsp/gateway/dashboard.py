"""The operators' routes: the live dashboard page, its JSON feed, and the
X-Road style operations statistics. All of them ask for admin credentials.

The page is static HTML and JavaScript (``static/``, with a vendored uPlot
for the chart) that polls the feed every second: nothing is loaded from
another origin, so it works offline, and its Content-Security-Policy says so.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from aiohttp import web
from prometheus_client.metrics import MetricWrapperBase

from lgsp.errors import MalformedRequest, UnknownService
from lgsp.gateway.responses import json_response
from lgsp.observe.metrics import EVENTS_DELIVERED, EVENTS_PUBLISHED
from lgsp.observe.stats import HISTORY_S, LiveStats, Window
from lgsp.transport.base import Transport

STATIC = Path(__file__).parent / "static"
DEFAULT_WINDOW_S = 300
"""The operations route's default sliding window (X-Road's is similar)."""
# The page and its feed load from this origin only; no inline script.
_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
_SECURITY_HEADERS = {
    "Content-Security-Policy": _CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


class Dashboard:
    """Handlers of ``/dashboard``, ``/v1/admin/dashboard`` and
    ``/v1/admin/operations``."""

    def __init__(self, stats: LiveStats, transport: Transport) -> None:
        self.stats = stats
        self.transport = transport
        # The files the page may load, found once: a request names one of
        # them or gets 404, so no path ever leaves the folder.
        self._files = {
            p.relative_to(STATIC).as_posix(): p
            for p in STATIC.rglob("*")
            if p.is_file() and p.suffix in {".html", ".js", ".css"}
        }

    async def page(self, request: web.Request) -> web.StreamResponse:
        return web.FileResponse(self._files["dashboard.html"], headers=_SECURITY_HEADERS)

    async def static(self, request: web.Request) -> web.StreamResponse:
        path = self._files.get(request.match_info["path"])
        if path is None:
            raise UnknownService(f"no dashboard file {request.match_info['path']}")
        return web.FileResponse(path, headers=_SECURITY_HEADERS)

    async def feed(self, request: web.Request) -> web.Response:
        """Everything the page shows, in one document."""
        now = time.time()
        series = self.stats.series(now)
        totals = self.stats.totals()
        queues = await self.transport.queue_stats()
        published = _per_label(EVENTS_PUBLISHED, "topic")
        delivered = _per_label(EVENTS_DELIVERED, "topic")
        data = {
            "now": now,
            "transport": self.transport.name,
            "window_s": DEFAULT_WINDOW_S,
            "totals": {
                "exchanges": totals.exchanges,
                "succeeded": totals.succeeded,
                "failed": totals.failed,
                "events": totals.events,
                "events_refused": totals.events_refused,
            },
            "rate": self.stats.rate(now),
            "series": {
                "t": series.t,
                "succeeded": series.succeeded,
                "failed": series.failed,
                "events": series.events,
            },
            "services": [
                _service_row(w) for w in self.stats.windows("services", now, DEFAULT_WINDOW_S)
            ],
            "clients": [
                {
                    "client": w.name,
                    "calls": w.calls,
                    "failed": w.failed,
                    "rate": w.rate,
                    "total": w.total,
                    "last_seen_age_s": now - max(w.last_success or 0, w.last_failure or 0),
                }
                for w in self.stats.windows("clients", now, DEFAULT_WINDOW_S)
            ],
            # Calls to other provinces through NDXP ("to gialai"), and theirs here.
            "partners": [
                {
                    "direction": w.name.partition(" ")[0],
                    "partner": w.name.partition(" ")[2],
                    **_service_row(w),
                }
                for w in self.stats.windows("partners", now, DEFAULT_WINDOW_S)
            ],
            "providers": [
                {
                    "service": p.service,
                    "version": p.version,
                    "instance": p.instance,
                    "heartbeat_age_s": p.age,
                }
                for p in sorted(
                    self.transport.providers(), key=lambda p: (p.service, p.version, p.instance)
                )
            ],
            "adapters": [
                {
                    "adapter": a.adapter,
                    "instance": a.instance,
                    "age_s": a.age,
                    "status": dict(a.values),
                }
                for a in sorted(self.transport.statuses(), key=lambda a: (a.adapter, a.instance))
            ],
            "queues": [
                {"name": q.name, "kind": q.kind, "messages": q.messages, "consumers": q.consumers}
                for q in queues
            ],
            "dead_letters": sum(q.messages for q in queues if q.kind == "dead-letter"),
            "events": {
                "published": sum(published.values()),
                "delivered": sum(delivered.values()),
                "lagging": sum(q.messages for q in queues if q.kind == "subscriber"),
                "topics": [
                    {
                        "topic": topic,
                        "published": published.get(topic, 0),
                        "delivered": delivered.get(topic, 0),
                    }
                    for topic in sorted({*published, *delivered})
                ],
            },
        }
        return json_response(data)

    async def operations(self, request: web.Request) -> web.Response:
        """X-Road style operational statistics per service and topic over a
        sliding window (``?window=SECONDS``, default 300, at most 900)."""
        raw = request.query.get("window", str(DEFAULT_WINDOW_S))
        if not raw.isdigit() or not 1 <= int(raw) <= HISTORY_S:
            raise MalformedRequest(f"window must be an integer of seconds from 1 to {HISTORY_S}")
        seconds = int(raw)
        now = time.time()
        return json_response(
            {
                "window_s": seconds,
                "until": now,
                "services": [_operational(w) for w in self.stats.windows("services", now, seconds)],
                "topics": [_operational(w) for w in self.stats.windows("topics", now, seconds)],
            }
        )


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 3)


def _service_row(w: Window) -> dict[str, Any]:
    return {
        "service": w.name,
        "calls": w.calls,
        "rate": w.rate,
        "p50_ms": _ms(w.p50),
        "p99_ms": _ms(w.p99),
        "error_rate": w.error_rate,
        "errors": w.errors,
    }


def _operational(w: Window) -> dict[str, Any]:
    """X-Road operational monitoring's fields, durations in milliseconds."""
    return {
        "name": w.name,
        "successful_requests": w.succeeded,
        "failed_requests": w.failed,
        "last_success": w.last_success,
        "last_failure": w.last_failure,
        "duration_ms": {
            "min": _ms(w.duration_min),
            "avg": _ms(w.duration_avg),
            "max": _ms(w.duration_max),
        },
        "request_bytes": {"min": w.request_min, "avg": w.request_avg, "max": w.request_max},
        "response_bytes": {"min": w.response_min, "avg": w.response_avg, "max": w.response_max},
        "errors": w.errors,
    }


def _per_label(metric: MetricWrapperBase, label: str) -> dict[str, float]:
    """A counter's ``_total`` summed per value of one label."""
    out: dict[str, float] = {}
    for family in metric.collect():
        for sample in family.samples:
            if not sample.name.endswith("_total"):
                continue
            key = sample.labels.get(label, "")
            out[key] = out.get(key, 0.0) + sample.value
    return out

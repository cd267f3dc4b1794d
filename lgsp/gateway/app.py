"""The gateway: an aiohttp application over a transport and a registry."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

from aiohttp import web

from lgsp.audit import ExchangeLog, Recorder
from lgsp.clients import ClientStore, watching
from lgsp.config import Settings
from lgsp.gateway.admin import AdminApi
from lgsp.gateway.catalogue import Catalogue, healthz, metrics
from lgsp.gateway.dashboard import Dashboard
from lgsp.gateway.exchange import Exchange
from lgsp.gateway.exchange_log import ExchangeLogRoute
from lgsp.gateway.middlewares import operators_only, problems
from lgsp.gateway.oauth import TokenEndpoint
from lgsp.metrics import ExchangeMetrics, refresh_periodically
from lgsp.registry import Registry
from lgsp.security import AdminAuth, Security
from lgsp.stats import LiveStats
from lgsp.transport.base import Transport


def create_metrics_app() -> web.Application:
    """``/metrics`` and ``/healthz`` alone, for processes without a gateway
    (``lgsp adapters``), so Prometheus can scrape what their adapters count."""
    app = web.Application()
    app.add_routes([web.get("/metrics", metrics), web.get("/healthz", healthz)])
    return app


def create_app(settings: Settings, registry: Registry, transport: Transport) -> web.Application:
    """The gateway's web application; the caller owns the transport's life."""
    # The client store: seeded from the settings when new, then authoritative.
    store = ClientStore.open(settings)
    security = Security(settings, store)
    live = LiveStats()
    # Written off the request path; flushed and closed with the app.
    exchange_log = ExchangeLog(settings)
    # Every finished exchange and event goes to each of these.
    recorders: list[Recorder] = [ExchangeMetrics(), live, exchange_log]
    exchange = Exchange(settings, registry, transport, security, recorders)
    catalogue = Catalogue(registry, transport, security)
    tokens = TokenEndpoint(security)
    exchange_log_route = ExchangeLogRoute(exchange_log)
    dashboard = Dashboard(live, transport)
    # Bodies are read by the exchange with its own limit check; aiohttp's
    # cap stays as a backstop for chunked uploads.
    app = web.Application(
        middlewares=[problems, operators_only(AdminAuth(settings))],
        client_max_size=settings.max_body_bytes,
    )
    app.cleanup_ctx.extend(
        [_watching_clients(store), exchange_log.lifespan, _refreshing_metrics(transport)]
    )
    app.add_routes(AdminApi(store).routes())
    app.add_routes(
        [
            web.post("/oauth2/token", tokens.token),
            web.post("/v1/services/{service}", exchange.call_service),
            web.post("/v1/events/{topic}", exchange.publish_event),
            web.get("/v1/services", catalogue.services),
            web.get("/v1/services/{service}", catalogue.service),
            web.get("/v1/topics", catalogue.topics),
            web.get("/v1/topics/{topic}", catalogue.topic),
            web.get("/openapi.json", catalogue.openapi),
            web.get("/asyncapi.json", catalogue.asyncapi),
            web.get("/healthz", catalogue.healthz),
            web.get("/readyz", catalogue.readyz),
            web.get("/metrics", catalogue.metrics),
            web.get("/v1/admin/exchanges", exchange_log_route.exchanges),
            web.get("/dashboard", dashboard.page),
            web.get("/dashboard/static/{path:.+}", dashboard.static),
            web.get("/v1/admin/dashboard", dashboard.feed),
            web.get("/v1/admin/operations", dashboard.operations),
        ]
    )
    return app


def _refreshing_metrics(
    transport: Transport,
) -> Callable[[web.Application], AsyncIterator[None]]:
    """Queue depths and heartbeat ages, refreshed in the background while
    the application runs (a scrape only reads them)."""

    async def refreshing(app: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(refresh_periodically(transport), name="lgsp-metrics")
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    return refreshing


def _watching_clients(store: ClientStore) -> Callable[[web.Application], AsyncIterator[None]]:
    """Changes other gateway processes make to the shared client store are
    picked up while the application runs; the store closes with it."""

    async def lifespan(app: web.Application) -> AsyncIterator[None]:
        async with watching(store):
            yield

    return lifespan

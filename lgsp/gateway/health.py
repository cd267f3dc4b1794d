"""Health and metrics: liveness, readiness (the transport connected and
contracts loaded) and the Prometheus exposition."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from lgsp.catalogue.registry import Registry
from lgsp.errors import ServiceUnavailable
from lgsp.gateway.responses import json_response
from lgsp.observe.metrics import PROVIDERS_ONLINE
from lgsp.transport.base import Transport


class Health:
    """Handlers of ``/healthz``, ``/readyz`` and ``/metrics`` for a gateway."""

    def __init__(self, registry: Registry, transport: Transport) -> None:
        self.registry = registry
        self.transport = transport

    async def healthz(self, request: web.Request) -> web.Response:
        return await healthz(request)

    async def readyz(self, request: web.Request) -> web.Response:
        if not self.transport.ready():
            raise ServiceUnavailable(f"{self.transport.name} transport is not connected")
        if not self.registry.services:
            raise ServiceUnavailable("no contracts loaded")
        return json_response({"status": "ready", "transport": self.transport.name})

    async def metrics(self, request: web.Request) -> web.Response:
        PROVIDERS_ONLINE.clear()
        # Every catalogued version has a series, 0 while nobody serves it, so
        # that an alert sees a provider that went down (not a series that vanished).
        for service, version in self.registry.fingerprints:
            PROVIDERS_ONLINE.labels(service, str(version)).set(0)
        for p in self.transport.providers():
            PROVIDERS_ONLINE.labels(p.service, str(p.version)).inc()
        return await metrics(request)


async def healthz(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


async def metrics(request: web.Request) -> web.Response:
    """The process's Prometheus exposition."""
    response = web.Response(body=generate_latest(REGISTRY))
    response.content_type = CONTENT_TYPE_LATEST.split(";")[0]
    response.charset = "utf-8"
    return response

"""Read-only routes: the catalogue of services and topics, the API
documents, health and metrics."""

from __future__ import annotations

from functools import cached_property
from typing import Any

import orjson
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from lgsp.errors import ServiceUnavailable
from lgsp.gateway.oauth import peer_certificate
from lgsp.metrics import PROVIDERS_ONLINE
from lgsp.openapi import asyncapi, openapi
from lgsp.registry import Registry
from lgsp.security import Security
from lgsp.transport.base import Transport


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(data), content_type="application/json")


class Catalogue:
    def __init__(self, registry: Registry, transport: Transport, security: Security) -> None:
        self.registry = registry
        self.transport = transport
        self.security = security

    def _authenticated(self, request: web.Request) -> None:
        self.security.verify(request.headers.get("Authorization"), peer_certificate(request))

    async def services(self, request: web.Request) -> web.Response:
        self._authenticated(request)
        out = []
        for name, versions in self.registry.services.items():
            online = {c.version: self.transport.providers_online(name, c.version) for c in versions}
            out.append(
                {
                    "service": name,
                    "owner": versions[-1].owner,
                    "description": versions[-1].description,
                    "versions": [{"version": v, "providers_online": n} for v, n in online.items()],
                    "providers_online": sum(online.values()),
                }
            )
        return _json({"services": out})

    async def service(self, request: web.Request) -> web.Response:
        self._authenticated(request)
        newest = self.registry.service(request.match_info["service"])
        versions = self.registry.services[newest.service]
        return _json(
            {
                "service": newest.service,
                "owner": newest.owner,
                "description": newest.description,
                "versions": [
                    {
                        "version": c.version,
                        "request_schema": self.registry.schemas[(c.service, c.version)][0],
                        "response_schema": self.registry.schemas[(c.service, c.version)][1],
                        "errors": [
                            {"status": e.status, "code": e.code, "title": e.title} for e in c.errors
                        ],
                        "examples": [
                            {"title": ex.title, "request": ex.request, "response": ex.response}
                            for ex in c.examples
                        ],
                        "providers_online": self.transport.providers_online(c.service, c.version),
                        "fingerprint": self.registry.fingerprints[(c.service, c.version)],
                        "deprecated": c.deprecated.isoformat() if c.deprecated else None,
                        "sunset": c.sunset.isoformat() if c.sunset else None,
                    }
                    for c in versions
                ],
            }
        )

    async def topics(self, request: web.Request) -> web.Response:
        self._authenticated(request)
        return _json(
            {
                "topics": [
                    {
                        "topic": name,
                        "owner": versions[-1].owner,
                        "description": versions[-1].description,
                        "versions": [t.version for t in versions],
                        "subscribers": self.transport.subscribers(name),
                    }
                    for name, versions in self.registry.topics.items()
                ]
            }
        )

    async def topic(self, request: web.Request) -> web.Response:
        self._authenticated(request)
        newest = self.registry.topic(request.match_info["topic"])
        versions = self.registry.topics[newest.topic]
        return _json(
            {
                "topic": newest.topic,
                "owner": newest.owner,
                "description": newest.description,
                "versions": [
                    {
                        "version": t.version,
                        "payload_schema": t.payload.model_json_schema(),
                        "examples": list(t.examples),
                    }
                    for t in versions
                ],
                "subscribers": self.transport.subscribers(newest.topic),
            }
        )

    @cached_property
    def _openapi(self) -> bytes:
        return orjson.dumps(openapi(self.registry))

    @cached_property
    def _asyncapi(self) -> bytes:
        return orjson.dumps(asyncapi(self.registry))

    async def openapi(self, request: web.Request) -> web.Response:
        return web.Response(body=self._openapi, content_type="application/json")

    async def asyncapi(self, request: web.Request) -> web.Response:
        return web.Response(body=self._asyncapi, content_type="application/json")

    async def healthz(self, request: web.Request) -> web.Response:
        return await healthz(request)

    async def readyz(self, request: web.Request) -> web.Response:
        if not self.transport.ready():
            raise ServiceUnavailable(f"{self.transport.name} transport is not connected")
        if not self.registry.services:
            raise ServiceUnavailable("no contracts loaded")
        return _json({"status": "ready", "transport": self.transport.name})

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
    return _json({"status": "ok"})


async def metrics(request: web.Request) -> web.Response:
    """The process's Prometheus exposition."""
    response = web.Response(body=generate_latest(REGISTRY))
    response.content_type = CONTENT_TYPE_LATEST.split(";")[0]
    response.charset = "utf-8"
    return response

"""The catalogue routes: what the bus offers (services, topics, their
contracts and who serves them) and the API documents generated from it."""

from __future__ import annotations

from functools import cached_property

import orjson
from aiohttp import web

from lgsp.catalogue import documents
from lgsp.catalogue.asyncapi import asyncapi
from lgsp.catalogue.openapi import openapi
from lgsp.catalogue.registry import Registry
from lgsp.gateway.oauth import peer_certificate
from lgsp.gateway.responses import json_response
from lgsp.transport.base import Transport
from lgsp.trust.access import Security


class Discovery:
    """Handlers of ``/v1/services``, ``/v1/topics`` (and one of each),
    ``/openapi.json`` and ``/asyncapi.json``."""

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
        return json_response({"services": out})

    async def service(self, request: web.Request) -> web.Response:
        self._authenticated(request)
        newest = self.registry.service(request.match_info["service"])
        versions = self.registry.services[newest.service]
        return json_response(
            {
                "service": newest.service,
                "owner": newest.owner,
                "description": newest.description,
                "versions": [
                    {
                        "version": c.version,
                        **documents.service_version(
                            c, self.registry.schemas[(c.service, c.version)]
                        ),
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
        return json_response(
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
        return json_response(
            {
                "topic": newest.topic,
                "owner": newest.owner,
                "description": newest.description,
                "versions": [
                    {"version": t.version, **documents.topic_version(t)} for t in versions
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

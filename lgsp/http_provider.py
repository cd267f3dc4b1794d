"""HTTP providers: agency systems that serve a service version over plain
HTTP instead of speaking AMQP (how X-Road and WSO2-based LGSPs reach their
backends).

The bus POSTs the validated request to the endpoint with the envelope as
``X-LGSP-*`` headers and turns the HTTP answer into a :class:`Reply`, which
the gateway then checks against the contract like any provider's
(docs/http-providers.md)::

    200                                  -> the response payload
    4xx with {"code", "detail"}          -> a domain error (declared, or 502)
    502/503/504, unreachable endpoint    -> 503 service.unavailable
    no answer in time                    -> 504 service.timeout
    anything else                        -> a provider failure (502 to the client)
"""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence

import aiohttp
import structlog

from lgsp.catalogue.registry import Registry
from lgsp.config import BasicAuth, BearerAuth, HeaderAuth, HttpProviderConfig
from lgsp.envelope import Envelope, Reply
from lgsp.errors import ServiceTimeout, ServiceUnavailable, UnknownService
from lgsp.transport.base import Transport

log = structlog.get_logger("lgsp.http_provider")

_UNAVAILABLE_STATUSES = frozenset({502, 503, 504})
_MAX_RETRY_AFTER = 3600


class UnknownProvider(LookupError):
    """An HTTP provider configured for a service version the registry does
    not know."""


def auth_headers(auth: BearerAuth | BasicAuth | HeaderAuth | None) -> dict[str, str]:
    """The header(s) that authenticate the bus to an endpoint."""
    match auth:
        case BearerAuth(token=token):
            return {"Authorization": f"Bearer {token.get_secret_value()}"}
        case BasicAuth(username=username, password=password):
            pair = f"{username}:{password.get_secret_value()}".encode()
            return {"Authorization": f"Basic {base64.b64encode(pair).decode('ascii')}"}
        case HeaderAuth(name=name, value=value):
            return {name: value.get_secret_value()}
    return {}


class HttpProvider:
    """Serves the configured service versions by forwarding each envelope to
    its HTTP endpoint. Bind it with :meth:`start` once the transport is
    connected; :meth:`close` after the transport has drained."""

    def __init__(self, configs: Sequence[HttpProviderConfig]) -> None:
        self.configs = tuple(configs)
        self.instance = f"http@{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._session: aiohttp.ClientSession | None = None

    def check(self, registry: Registry) -> None:
        """Refuse an endpoint for a service version the catalogue does not
        declare: nothing could validate what it answers."""
        for config in self.configs:
            try:
                registry.service(config.service, config.version)
            except UnknownService as exc:
                raise UnknownProvider(
                    f"HTTP provider {config.url} for {config.service} v{config.version}: "
                    f"{exc.detail}"
                ) from None

    async def start(self, transport: Transport, registry: Registry) -> None:
        """Serve every configured service version on the transport."""
        self.check(registry)
        for config in self.configs:
            await transport.serve(
                config.service,
                config.version,
                self._handler(config),
                instance=self.instance,
                fingerprint=registry.fingerprint(config.service, config.version),
            )
        if self.configs:
            log.info(
                "http_provider.started",
                instance=self.instance,
                transport=transport.name,
                services=[f"{c.service}/v{c.version}" for c in self.configs],
            )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _session_in_loop(self) -> aiohttp.ClientSession:
        # Created on first use, inside the running loop; every wait is
        # bounded by asyncio.timeout, not by the session's own timeouts.
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=None), raise_for_status=False
            )
        return self._session

    def _handler(self, config: HttpProviderConfig) -> Callable[[Envelope], Awaitable[Reply]]:
        url = str(config.url)
        fixed = {"Content-Type": "application/json", **auth_headers(config.auth)}
        limit = config.timeout_ms / 1000

        async def handle(envelope: Envelope) -> Reply:
            started = time.perf_counter()
            fields = {
                "request_id": envelope.request_id,
                "service": envelope.service,
                "version": envelope.version,
            }
            remaining = envelope.remaining()
            if remaining <= 0:
                return Reply.error(ServiceTimeout(f"{envelope.service}: deadline already passed"))
            headers = {
                **fixed,
                "X-Request-Id": envelope.request_id,
                "X-LGSP-Client": envelope.client,
                "X-LGSP-Service": envelope.service,
                "X-LGSP-Service-Version": str(envelope.version),
                "X-LGSP-Deadline": str(int(envelope.deadline * 1000)),
                "X-LGSP-Timeout-Ms": str(max(1, int(remaining * 1000))),
            }
            if envelope.idempotency_key is not None:
                headers["Idempotency-Key"] = envelope.idempotency_key
            try:
                async with asyncio.timeout(min(remaining, limit)):
                    async with self._session_in_loop().post(
                        url, data=envelope.body, headers=headers, allow_redirects=False
                    ) as response:
                        status = response.status
                        body = await response.read()
                        retry_after = response.headers.get("Retry-After", "")
            except TimeoutError:
                log.warning("http_provider.timeout", timeout_ms=config.timeout_ms, **fields)
                return Reply.error(
                    ServiceTimeout(f"{envelope.service}: the HTTP provider did not answer in time")
                )
            except aiohttp.ClientConnectionError as exc:
                # Refused, reset, DNS failure, dropped mid-answer: nobody could answer now.
                log.warning("http_provider.unreachable", error=repr(exc), **fields)
                return Reply.error(
                    ServiceUnavailable(f"{envelope.service}: the HTTP provider is unreachable")
                )
            except aiohttp.ClientError as exc:
                log.warning("http_provider.failed", error=repr(exc), **fields)
                return _failed(f"the HTTP call failed ({type(exc).__name__})")
            duration_ms = round((time.perf_counter() - started) * 1000, 2)
            log.debug("http_provider.call", status=status, duration_ms=duration_ms, **fields)
            return _reply(envelope, status, body, retry_after, fields)

        return handle


def _reply(
    envelope: Envelope, status: int, body: bytes, retry_after: str, fields: dict[str, object]
) -> Reply:
    """What an endpoint's HTTP answer means on the bus."""
    if status == 200:
        return Reply(200, body)
    if status in _UNAVAILABLE_STATUSES:
        log.warning("http_provider.unavailable", status=status, **fields)
        wait = int(retry_after) if retry_after.isdigit() else 1
        return Reply.error(
            ServiceUnavailable(
                f"{envelope.service}: the HTTP provider answered {status}",
                retry_after=min(wait, _MAX_RETRY_AFTER),
            )
        )
    if 400 <= status < 500:
        answer = Reply(status, body).answer()
        if isinstance(code := answer.get("code"), str):
            # Passed on only if the contract declares this code with this
            # status: the gateway checks, as for any provider.
            detail = answer.get("detail")
            return Reply.declared(status, code, detail if isinstance(detail, str) else "")
    log.warning("http_provider.failed", status=status, **fields)
    return _failed(f"the HTTP provider answered {status} without a declared error")


def _failed(detail: str) -> Reply:
    return Reply.failed(detail)

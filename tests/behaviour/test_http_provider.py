"""HTTP providers over both transports: an agency endpoint (a tiny aiohttp
app on 127.0.0.1) serving the test contracts, reached through the gateway."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from multidict import CIMultiDict

from lgsp.config import HttpProviderConfig
from lgsp.testing import Bus, TransportKind
from tests.support.echo import echo_bus

TOKEN = "endpoint-bearer-token"


@dataclass
class Endpoint:
    """The agency's HTTP endpoint: echoes, or misbehaves as the text says."""

    url: str = ""
    seen: list[CIMultiDict[str]] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    """Never set by a test: a slow call waits for it until teardown."""

    async def handle(self, request: web.Request) -> web.Response:
        self.seen.append(request.headers.copy())
        payload: dict[str, Any] = await request.json()
        text = payload["text"]
        match payload.get("mode", "ok"):
            case "slow":
                await self.release.wait()
            case "declared":
                return web.json_response(
                    {"code": "test.echo.declared", "detail": "as declared"}, status=409
                )
            case "undeclared":
                return web.json_response({"code": "test.echo.secret", "detail": "no"}, status=418)
            case "bad":
                return web.json_response({"text": 42, "client": "x"})
            case "crash":
                return web.Response(status=500, text="Internal Server Error")
        if text == "unavailable":
            return web.json_response({"error": "maintenance"}, status=503)
        if text == "html-4xx":
            return web.Response(status=400, text="<html>bad</html>", content_type="text/html")
        answer: dict[str, Any] = {"text": text, "client": request.headers["X-LGSP-Client"]}
        if request.headers["X-LGSP-Service-Version"] == "2":
            answer["version"] = 2
        return web.json_response(answer)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Setup:
    bus: Bus
    endpoint: Endpoint


@pytest.fixture(scope="module")
async def setup(transport_kind: TransportKind, amqp_url: str | None) -> AsyncIterator[Setup]:
    endpoint = Endpoint()
    app = web.Application()
    app.router.add_post("/echo", endpoint.handle)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    endpoint.url = f"http://127.0.0.1:{port}/echo"
    providers = [
        HttpProviderConfig(
            service="test.echo.call",
            version=1,
            url=endpoint.url,
            auth={"type": "bearer", "token": TOKEN},
        ),
        # A short timeout of its own, far below the call's deadline.
        HttpProviderConfig(service="test.echo.call", version=2, url=endpoint.url, timeout_ms=200),
        # Nobody listens there.
        HttpProviderConfig(
            service="test.nobody.call", version=1, url=f"http://127.0.0.1:{_free_port()}/"
        ),
    ]
    try:
        # The bus serves its settings' HTTP providers as `lgsp up` does, and
        # waits until each is online.
        async with echo_bus(transport_kind, amqp_url, adapters=[], http_providers=providers) as bus:
            try:
                yield Setup(bus, endpoint)
            finally:
                endpoint.release.set()
    finally:
        await runner.cleanup()


async def test_success_and_the_headers_the_endpoint_receives(setup: Setup) -> None:
    before = time.time()
    r = await setup.bus.send(
        "test.echo.call",
        {"text": "xin chào"},
        headers={
            "X-Request-Id": "req-http-1",
            "Idempotency-Key": "key-http-1",
            "X-LGSP-Service-Version": "1",
            "X-LGSP-Timeout-Ms": "5000",
        },
    )
    assert r.status == 200, await r.text()
    assert await r.json() == {"text": "xin chào", "client": "test.all"}
    assert r.headers["X-Request-Id"] == "req-http-1"
    seen = setup.endpoint.seen[-1]
    assert seen["Content-Type"] == "application/json"
    assert seen["X-Request-Id"] == "req-http-1"
    assert seen["X-LGSP-Client"] == "test.all"
    assert seen["X-LGSP-Service"] == "test.echo.call"
    assert seen["X-LGSP-Service-Version"] == "1"
    assert seen["Idempotency-Key"] == "key-http-1"
    assert seen["Authorization"] == f"Bearer {TOKEN}"
    deadline_ms = int(seen["X-LGSP-Deadline"])
    assert before * 1000 + 4000 < deadline_ms <= time.time() * 1000 + 5000
    assert 0 < int(seen["X-LGSP-Timeout-Ms"]) <= 5000


async def test_no_idempotency_header_without_a_key(setup: Setup) -> None:
    r = await setup.bus.send(
        "test.echo.call", {"text": "a"}, headers={"X-LGSP-Service-Version": "1"}
    )
    assert r.status == 200
    assert "Idempotency-Key" not in setup.endpoint.seen[-1]


async def test_declared_domain_error_passes(setup: Setup) -> None:
    r = await setup.bus.send(
        "test.echo.call", {"text": "a", "mode": "declared"}, headers={"X-LGSP-Service-Version": "1"}
    )
    assert r.status == 409
    problem = await r.json()
    assert problem["code"] == "test.echo.declared"
    assert problem["detail"] == "as declared"


@pytest.mark.parametrize(
    "payload",
    [
        {"text": "a", "mode": "undeclared"},  # a code the contract does not declare
        {"text": "a", "mode": "bad"},  # 200 outside the response model
        {"text": "a", "mode": "crash"},  # 500
        {"text": "html-4xx"},  # 4xx without a JSON error code
    ],
)
async def test_answers_outside_the_contract_are_502(setup: Setup, payload: dict[str, str]) -> None:
    r = await setup.bus.send("test.echo.call", payload, headers={"X-LGSP-Service-Version": "1"})
    assert r.status == 502
    assert (await r.json())["code"] == "contract.response_invalid"


async def test_endpoint_answering_503_is_unavailable(setup: Setup) -> None:
    r = await setup.bus.send(
        "test.echo.call", {"text": "unavailable"}, headers={"X-LGSP-Service-Version": "1"}
    )
    assert r.status == 503
    assert (await r.json())["code"] == "service.unavailable"
    assert "Retry-After" in r.headers


async def test_endpoint_down_is_503(setup: Setup) -> None:
    r = await setup.bus.send("test.nobody.call", {"text": "a"})
    assert r.status == 503
    assert (await r.json())["code"] == "service.unavailable"


async def test_slow_endpoint_beyond_the_call_deadline_is_504(setup: Setup) -> None:
    started = time.monotonic()
    r = await setup.bus.send(
        "test.echo.call",
        {"text": "a", "mode": "slow"},
        headers={"X-LGSP-Service-Version": "1", "X-LGSP-Timeout-Ms": "300"},
    )
    assert r.status == 504
    assert (await r.json())["code"] == "service.timeout"
    assert time.monotonic() - started < 3
    assert int(setup.endpoint.seen[-1]["X-LGSP-Timeout-Ms"]) <= 300


async def test_slow_endpoint_beyond_its_own_timeout_is_504(setup: Setup) -> None:
    started = time.monotonic()
    r = await setup.bus.send(
        "test.echo.call",
        {"text": "a", "mode": "slow"},
        headers={"X-LGSP-Service-Version": "2", "X-LGSP-Timeout-Ms": "10000"},
    )
    assert r.status == 504
    assert (await r.json())["code"] == "service.timeout"
    assert time.monotonic() - started < 3  # the provider's 200 ms, not the call's 10 s


async def test_version_2_without_auth(setup: Setup) -> None:
    r = await setup.bus.send(
        "test.echo.call", {"text": "b"}, headers={"X-LGSP-Service-Version": "2"}
    )
    assert r.status == 200
    assert await r.json() == {"text": "b", "client": "test.all", "version": 2}
    assert "Authorization" not in setup.endpoint.seen[-1]

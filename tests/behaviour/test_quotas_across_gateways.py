"""A client's quota across several gateways behind one load balancer: with
``gateways = 3`` each gateway counts a third of it, so a client whose calls
are spread over the three gets about its quota, not three times it.

Three real gateway apps (each with its own HTTP server, token check and
limiter) on one transport, as three gateway machines on one broker."""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from lgsp.catalogue.registry import Registry
from lgsp.gateway import create_app
from lgsp.transport.memory import MemoryTransport
from lgsp_contracts import CATALOGUE
from tests.support.echo import TEST_CATALOGUE, Received, echo_adapter, settings

CLIENT, SECRET = "test.limited", "test-limited-secret"  # 3 a minute, a burst of 3


@contextlib.asynccontextmanager
async def three_gateways(gateways: int) -> AsyncIterator[list[str]]:
    registry = Registry([CATALOGUE, TEST_CATALOGUE])
    transport = MemoryTransport()
    await transport.start()
    adapter = echo_adapter(Received())
    await adapter.start(transport, registry)
    runners = []
    try:
        urls = []
        for _ in range(3):
            runner = web.AppRunner(create_app(settings(gateways=gateways), registry, transport))
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            runners.append(runner)
            port = runner.addresses[0][1]
            urls.append(f"http://127.0.0.1:{port}")
        yield urls
    finally:
        for runner in runners:
            await runner.cleanup()
        await adapter.stop()
        await transport.close()


async def _accepted(urls: list[str], calls: int) -> int:
    """Calls answered 200, of ``calls`` spread round-robin over the gateways."""
    async with aiohttp.ClientSession() as http:
        form = {"grant_type": "client_credentials", "client_id": CLIENT, "client_secret": SECRET}
        async with http.post(f"{urls[0]}/oauth2/token", data=form) as r:
            token = (await r.json())["access_token"]  # one gateway's token, every gateway's
        statuses = []
        for url in itertools.islice(itertools.cycle(urls), calls):
            async with http.post(
                f"{url}/v1/services/test.echo.call",
                json={"text": "q"},
                headers={"Authorization": f"Bearer {token}", "X-LGSP-Service-Version": "1"},
            ) as r:
                statuses.append(r.status)
    assert set(statuses) <= {200, 429}, statuses
    return statuses.count(200)


async def test_three_gateways_sharing_a_quota_give_a_client_its_quota() -> None:
    async with three_gateways(gateways=3) as urls:
        assert await _accepted(urls, 12) == 3  # the burst of 3, a third on each


async def test_gateways_that_do_not_know_of_each_other_give_three_times_it() -> None:
    """Why the setting exists: each of three gateways alone counts the whole quota."""
    async with three_gateways(gateways=1) as urls:
        assert await _accepted(urls, 12) == 9

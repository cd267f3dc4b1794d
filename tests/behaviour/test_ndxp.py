"""The simulated NDXP beside a bus: national requests forwarded into the
province's LGSP, under the gateway's grants (the simulator alone:
tests/unit/test_ndxp_simulator.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from lgsp_adapters import land
from lgsp_adapters.ndxp import Simulator
from lgsp_contracts.land import PARCEL_LOOKUP_V1
from tests.support.echo import echo_bus
from tests.support.ndxp import MINISTRY, token


@pytest.fixture(scope="module")
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def test_national_request_forwarded_into_the_lgsp(http: aiohttp.ClientSession) -> None:
    example = PARCEL_LOOKUP_V1.examples[0]
    # The bus's own simulated NDXP (its sidecar) forwards into its gateway.
    async with echo_bus("memory", adapters=[land.adapter]) as bus:
        sim = bus.sidecar("ndxp-sim", Simulator)
        bearer = await token(http, sim, MINISTRY)
        r = await http.post(
            f"{sim.url}/lgsp/dongthap/land.parcel.lookup",
            json=example.request,
            headers={"Authorization": f"Bearer {bearer}", "X-Request-Id": "bnnmt-0001"},
        )
        assert r.status == 200, await r.text()
        assert await r.json() == example.response
        assert r.headers["X-Request-Id"] == "bnnmt-0001"
        # NDXP's grants at the LGSP are the gateway's to enforce.
        r = await http.post(
            f"{sim.url}/lgsp/dongthap/population.citizen.lookup",
            json={},
            headers={"Authorization": f"Bearer {bearer}"},
        )
        assert r.status == 403
        assert (await r.json())["code"] == "auth.forbidden"
        r = await http.post(
            f"{sim.url}/lgsp/hanoi/land.parcel.lookup",
            json=example.request,
            headers={"Authorization": f"Bearer {bearer}"},
        )
        assert (r.status, (await r.json())["error_code"]) == (404, "106")
        assert sim.calls["forward"] == 3

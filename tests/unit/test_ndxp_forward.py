"""NDXP between provinces: a province's LGSP calls another's service through
the simulated NDXP, which names the origin from the caller's credentials
(never from its headers), refuses loops and unknown provinces, bounds the
wait, passes the answer back as it is, and keeps its own exchange log.

The provinces' gateways are stand-ins here (a token route and a service
route that say what they received), so that the test sees exactly what NDXP
sends; a real gateway behind NDXP: tests/behaviour/test_ndxp.py."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from lgsp_adapters.ndxp import Simulator, SimulatorConfig, running
from tests.support.ndxp import MINISTRY, token

SECRET = "demo-lgsp-ndxp-secret"
DONGTHAP = ("dongthap.lgsp", SECRET)
GIALAI = ("gialai.lgsp", SECRET)


@dataclass
class Gateway:
    """A stand-in for a province's gateway: it hands NDXP a token and
    answers each call with what it received (or is told to stall)."""

    received: list[dict[str, Any]] = field(default_factory=list)
    stall: asyncio.Event | None = None
    tokens: int = 0

    def app(self) -> web.Application:
        async def oauth(request: web.Request) -> web.Response:
            form = await request.post()
            if (form.get("client_id"), form.get("client_secret")) != (
                "ndxp.national",
                "demo-ndxp-secret",
            ):
                return web.json_response({"error": "invalid_client"}, status=401)
            self.tokens += 1
            return web.json_response({"access_token": "t", "expires_in": 3600})

        async def service(request: web.Request) -> web.Response:
            self.received.append(
                {
                    "service": request.match_info["service"],
                    "headers": request.headers.copy(),
                    "body": await request.json(),
                }
            )
            if self.stall is not None:
                await self.stall.wait()
            return web.json_response(
                {"ok": True},
                status=200 if request.match_info["service"] != "land.parcel.missing" else 404,
                headers={
                    "X-Request-Id": request.headers.get("X-Request-Id", "made-here"),
                    "X-LGSP-Service-Version": "1",
                    "Retry-After": "7",
                    "X-Other": "not passed back",
                },
            )

        app = web.Application()
        app.router.add_post("/oauth2/token", oauth)
        app.router.add_post("/v1/services/{service}", service)
        return app


@pytest.fixture
async def gialai() -> AsyncIterator[tuple[Gateway, str]]:
    gateway = Gateway()
    async with TestServer(gateway.app(), host="127.0.0.1") as server:
        yield gateway, str(server.make_url("")).rstrip("/")


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def sim(gialai: tuple[Gateway, str]) -> AsyncIterator[Simulator]:
    # A live mapping, as a network's runner fills it: dongthap has not started.
    provinces: dict[str, str] = {"gialai": gialai[1]}
    async with running(SimulatorConfig(port=0, provinces=provinces)) as simulator:
        yield simulator


async def call(
    http: aiohttp.ClientSession,
    sim: Simulator,
    path: str,
    client: tuple[str, str],
    headers: dict[str, str] | None = None,
) -> aiohttp.ClientResponse:
    bearer = await token(http, sim, client)
    r = await http.post(
        f"{sim.url}{path}",
        json={"soThua": 12},
        headers={"Authorization": f"Bearer {bearer}", **(headers or {})},
    )
    await r.read()
    return r


async def test_the_origin_is_the_caller_s_province_whatever_it_says(
    http: aiohttp.ClientSession, sim: Simulator, gialai: tuple[Gateway, str]
) -> None:
    gateway, _ = gialai
    r = await call(
        http,
        sim,
        "/lgsp/gialai/land.parcel.lookup",
        DONGTHAP,
        {
            "X-Request-Id": "dongthap-0001",
            "X-LGSP-Origin": "phutho",  # forged: NDXP names the origin
            "X-LGSP-Origin-Client": "dongthap.onestop",
            "X-LGSP-Service-Version": "1",
            "X-LGSP-Timeout-Ms": "4000",
            "Idempotency-Key": "k-1",
            "X-LGSP-Province": "gialai",
        },
    )
    assert r.status == 200
    assert await r.json() == {"ok": True}
    (received,) = gateway.received
    sent = received["headers"]
    assert received["service"] == "land.parcel.lookup"
    assert received["body"] == {"soThua": 12}
    assert sent["X-LGSP-Origin"] == "dongthap"
    assert sent["X-LGSP-Origin-Client"] == "dongthap.onestop"
    assert sent["X-Request-Id"] == "dongthap-0001"
    assert sent["X-LGSP-Service-Version"] == "1"
    assert sent["X-LGSP-Timeout-Ms"] == "4000"
    assert sent["Idempotency-Key"] == "k-1"
    assert sent["Authorization"] == "Bearer t"  # NDXP's own client at the target
    assert "X-LGSP-Province" not in sent
    # The answer comes back as it is, with the protocol's headers only.
    assert r.headers["X-Request-Id"] == "dongthap-0001"
    assert r.headers["X-LGSP-Service-Version"] == "1"
    assert r.headers["Retry-After"] == "7"
    assert "X-Other" not in r.headers


async def test_a_ministry_has_no_origin_and_names_no_origin_client(
    http: aiohttp.ClientSession, sim: Simulator, gialai: tuple[Gateway, str]
) -> None:
    gateway, _ = gialai
    r = await call(
        http,
        sim,
        "/lgsp/gialai/land.parcel.lookup",
        MINISTRY,
        {"X-LGSP-Origin": "dongthap", "X-LGSP-Origin-Client": "dongthap.onestop"},
    )
    assert r.status == 200
    sent = gateway.received[0]["headers"]
    assert "X-LGSP-Origin" not in sent
    assert "X-LGSP-Origin-Client" not in sent
    # Without a (usable) request id from the caller, NDXP gives one, the same
    # to the target and back.
    assert sent["X-Request-Id"].startswith("ndxp-")
    assert r.headers["X-Request-Id"] == sent["X-Request-Id"]
    (logged,) = sim.exchanges.find(request_id=sent["X-Request-Id"])
    assert (logged.origin, logged.origin_client, logged.caller) == (None, None, "bnnmt.datdai")


async def test_a_malformed_origin_client_is_not_passed_on(
    http: aiohttp.ClientSession, sim: Simulator, gialai: tuple[Gateway, str]
) -> None:
    gateway, _ = gialai
    r = await call(
        http, sim, "/lgsp/gialai/land.parcel.lookup", DONGTHAP, {"X-LGSP-Origin-Client": "Ä b"}
    )
    assert r.status == 200
    assert "X-LGSP-Origin-Client" not in gateway.received[0]["headers"]


async def test_a_province_does_not_call_itself_through_ndxp(
    http: aiohttp.ClientSession, sim: Simulator, gialai: tuple[Gateway, str]
) -> None:
    r = await call(http, sim, "/lgsp/gialai/land.parcel.lookup", GIALAI)
    assert r.status == 400
    body = await r.json()
    assert body["error_code"] == "500"
    assert "loop" in body["message"]
    assert gialai[0].received == []
    assert len(sim.exchanges) == 0


async def test_an_unknown_province_is_404(
    http: aiohttp.ClientSession, sim: Simulator, gialai: tuple[Gateway, str]
) -> None:
    for path in ("/lgsp/hanoi/land.parcel.lookup", "/lgsp/dongthap/land.parcel.lookup"):
        r = await call(http, sim, path, GIALAI)
        assert r.status == 404, path
        body = await r.json()
        assert body["error_code"] == "106"
        assert f"no province {path.split('/')[2]} on NDXP" in body["message"]
    assert gialai[0].received == []


async def test_a_province_that_starts_later_is_reached(
    http: aiohttp.ClientSession, gialai: tuple[Gateway, str]
) -> None:
    provinces = {"gialai": gialai[1]}
    dongthap = Gateway()
    async with (
        running(SimulatorConfig(port=0, provinces=provinces)) as sim,
        TestServer(dongthap.app(), host="127.0.0.1") as server,
    ):
        r = await call(http, sim, "/lgsp/dongthap/land.parcel.lookup", GIALAI)
        assert r.status == 404
        # The runner adds dongthap once it has started: the next call finds it.
        provinces["dongthap"] = str(server.make_url("")).rstrip("/")
        r = await call(http, sim, "/lgsp/dongthap/land.parcel.lookup", GIALAI)
        assert r.status == 200
    assert dongthap.received[0]["headers"]["X-LGSP-Origin"] == "gialai"


async def test_an_unreachable_province_is_502_naming_it(
    http: aiohttp.ClientSession, gialai: tuple[Gateway, str]
) -> None:
    config = SimulatorConfig(port=0, provinces={"lamdong": "http://127.0.0.1:9"})
    async with running(config) as sim:
        r = await call(http, sim, "/lgsp/lamdong/land.parcel.lookup", GIALAI)
        assert r.status == 502
        body = await r.json()
        assert body["error_code"] == "1"
        assert "lamdong" in body["message"]
        (logged,) = sim.exchanges
        assert (logged.target, logged.status) == ("lamdong", 502)


async def test_no_answer_within_the_caller_s_deadline_is_504(
    http: aiohttp.ClientSession, sim: Simulator, gialai: tuple[Gateway, str]
) -> None:
    gateway, _ = gialai
    gateway.stall = asyncio.Event()
    try:
        r = await call(
            http,
            sim,
            "/lgsp/gialai/land.parcel.lookup",
            DONGTHAP,
            {"X-LGSP-Timeout-Ms": "100", "X-Request-Id": "slow-1"},
        )
    finally:
        gateway.stall.set()
    assert r.status == 504
    body = await r.json()
    assert (body["error_code"], "gialai" in body["message"]) == ("1", True)
    (logged,) = sim.exchanges.find(request_id="slow-1")
    assert logged.status == 504


async def test_the_exchange_log_keeps_every_forwarded_call(
    http: aiohttp.ClientSession, sim: Simulator, gialai: tuple[Gateway, str]
) -> None:
    for i, service in enumerate(("land.parcel.lookup", "land.parcel.missing")):
        await call(
            http,
            sim,
            f"/lgsp/gialai/{service}",
            DONGTHAP,
            {"X-Request-Id": f"dt-{i}", "X-LGSP-Origin-Client": "dongthap.onestop"},
        )
    r = await http.get(f"{sim.url}/admin/exchanges")
    assert r.status == 200
    rows = (await r.json())["exchanges"]
    assert [(e["request_id"], e["service"], e["status"]) for e in rows] == [
        ("dt-0", "land.parcel.lookup", 200),
        ("dt-1", "land.parcel.missing", 404),
    ]
    first = rows[0]
    assert first["origin"] == "dongthap"
    assert first["origin_client"] == "dongthap.onestop"
    assert first["caller"] == "dongthap.lgsp"
    assert first["target"] == "gialai"
    assert first["duration_ms"] >= 0
    assert first["at"].endswith("+00:00")
    r = await http.get(f"{sim.url}/admin/exchanges", params={"request_id": "dt-1"})
    assert [e["request_id"] for e in (await r.json())["exchanges"]] == ["dt-1"]
    r = await http.get(f"{sim.url}/admin/exchanges", params={"limit": "1"})
    assert [e["request_id"] for e in (await r.json())["exchanges"]] == ["dt-1"]
    for limit in ("0", "x", "100000"):
        r = await http.get(f"{sim.url}/admin/exchanges", params={"limit": limit})
        assert r.status == 400, limit


async def test_ndxp_is_one_client_per_province_gateway(
    http: aiohttp.ClientSession, sim: Simulator, gialai: tuple[Gateway, str]
) -> None:
    for _ in range(3):
        assert (await call(http, sim, "/lgsp/gialai/land.parcel.lookup", DONGTHAP)).status == 200
    assert gialai[0].tokens == 1  # its token at the target is cached


async def test_the_platform_handle_tells_provinces_how_to_reach_it(sim: Simulator) -> None:
    assert sim.env == {"LGSP_NDXP_URL": sim.url}
    assert sim.network("gialai") == {
        "hub_url": f"{sim.url}/lgsp",
        "token_url": f"{sim.url}/token",
        "trace_url": f"{sim.url}/ndop/v1/traces",
        "client_id": "gialai.lgsp",
        "client_secret": SECRET,
    }
    assert sim.network("hanoi") is None  # no client of that province at NDXP
    assert "NDXP" in sim.describe()

"""The simulated NDOP, mounted as NDXP mounts it (a sub-application of a
platform holding the simulator): LGSPs' reports kept once each and only for
the reporter's own province, the traffic and the trace of a request counted
once per request, and the citizens' data tracker, which answers a citizen
only with the right birth date, the same for a wrong one as for an unknown
id, and never more often than its allowance."""

from __future__ import annotations

import contextlib
import datetime as dt
import stat
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from lgsp_adapters.ndxp import NdxpClient, Simulator, SimulatorConfig, auth, ndop
from lgsp_adapters.ndxp.ndop import NDOP, Ndop, Trace, TraceStore, mask
from lgsp_adapters.ndxp.simulator import SIMULATOR
from lgsp_contracts.ndop import ACCESS_HISTORY_V1, LichSuTruyCap

HUNG, HUNG_BORN = "087090001234", dt.date(1990, 5, 17)
HONG, HONG_BORN = "087192004321", dt.date(1992, 11, 3)
UNKNOWN = "087090009999"
CLIENTS = {
    "dongthap.lgsp": NdxpClient(
        "dongthap-secret", frozenset({"ndop", "dancu"}), province="dongthap"
    ),
    "gialai.lgsp": NdxpClient("gialai-secret", frozenset({"ndop"}), province="gialai"),
    "bnnmt.datdai": NdxpClient("bnnmt-secret", frozenset({"lgsp"}), "a ministry"),
    "bnnmt.giamsat": NdxpClient("giamsat-secret", frozenset({"ndop"}), "a ministry's monitor"),
}
ONESTOP = "UBND tỉnh Đồng Tháp — một cửa điện tử"
PEER = "X-Test-Peer"
"""Header with which a test makes a request come from another address."""


def report(
    request_id: str,
    *,
    role: str = "requester",
    reporter: str = "dongthap",
    subject: str = HUNG,
    at: str = "2025-07-01T09:00:00+07:00",
    status: int = 200,
    client: str = "dongthap.onestop",
    agency: str = ONESTOP,
    origin: str = "dongthap",
    target: str = "gialai",
    service: str = "land.parcel.lookup",
    purpose: str | None = "1.004873",
    trace_id: str | None = None,
) -> dict[str, Any]:
    return {
        "trace_id": trace_id or uuid.uuid4().hex,
        "request_id": request_id,
        "reporter": reporter,
        "role": role,
        "client": client,
        "agency": agency,
        "origin": origin,
        "target": target,
        "service": service,
        "version": 1,
        "purpose": purpose,
        "subject": subject,
        "status": status,
        "at": at,
        "duration_ms": 12.5,
    }


@dataclass
class Platform:
    """A platform with NDOP mounted at /ndop, and a session to call it."""

    url: str
    http: aiohttp.ClientSession
    ndop: Ndop
    asked: list[str] = field(default_factory=list)
    """Personal ids the population lookup was asked about."""

    async def token(self, client: str) -> str:
        form = {
            "grant_type": "client_credentials",
            "client_id": client,
            "client_secret": CLIENTS[client].secret,
        }
        async with self.http.post(f"{self.url}/token", data=form) as r:
            assert r.status == 200, await r.text()
            token: str = (await r.json())["access_token"]
            return token

    async def send(
        self, client: str | None, traces: list[dict[str, Any]] | bytes
    ) -> tuple[int, dict[str, Any]]:
        headers = {"Authorization": f"Bearer {await self.token(client)}"} if client else {}
        body = traces if isinstance(traces, bytes) else orjson.dumps({"traces": traces})
        async with self.http.post(
            f"{self.url}/ndop/v1/traces",
            data=body,
            headers={**headers, "Content-Type": "application/json"},
        ) as r:
            return r.status, await r.json()

    async def get(self, path: str, **params: str) -> tuple[int, dict[str, Any]]:
        async with self.http.get(f"{self.url}/ndop{path}", params=params) as r:
            return r.status, await r.json()

    async def track(
        self, so_dinh_danh: str, born: dt.date | str, headers: dict[str, str] | None = None
    ) -> tuple[int, bytes, aiohttp.ClientResponse]:
        day = born if isinstance(born, str) else born.isoformat()
        async with self.http.post(
            f"{self.url}/ndop/v1/tracker",
            json={"soDinhDanh": so_dinh_danh, "ngaySinh": day},
            headers=headers,
        ) as r:
            return r.status, await r.read(), r


@web.middleware
async def _peer(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    peer = request.headers.get(PEER)
    return await handler(request.clone(remote=peer) if peer else request)


@contextlib.asynccontextmanager
async def platform(*, admin_from_anywhere: bool = False, **options: Any) -> AsyncIterator[Platform]:
    """NDOP mounted on a platform holding a simulator (its /token route
    beside it), as the simulated NDXP mounts it."""
    config = SimulatorConfig(port=0, clients=CLIENTS, admin_from_anywhere=admin_from_anywhere)
    sim = Simulator(config)
    asked: list[str] = []
    births = {HUNG: HUNG_BORN, HONG: HONG_BORN}

    async def born(so_dinh_danh: str) -> dt.date | None:
        asked.append(so_dinh_danh)
        return births.get(so_dinh_danh)

    app = web.Application(middlewares=[_peer])
    app[SIMULATOR] = sim
    app.router.add_post("/token", auth.token)
    sub = ndop.create_app(born, simulator=sim, **options)
    app.add_subapp("/ndop", sub)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as http:
            yield Platform(str(server.make_url("")).rstrip("/"), http, sub[NDOP], asked)
    finally:
        await server.close()


@pytest.fixture
async def ndop_platform() -> AsyncIterator[Platform]:
    async with platform() as p:
        yield p


# -- reports -------------------------------------------------------------------


async def test_a_batch_is_kept_once_however_often_it_is_sent(ndop_platform: Platform) -> None:
    batch = [report("r-1"), report("r-2", subject=HONG)]
    status, body = await ndop_platform.send("dongthap.lgsp", batch)
    assert (status, body["error_code"], body["accepted"], body["duplicates"]) == (200, "0", 2, 0)
    # Reporting is retried at least once: the same reports, and one new.
    status, body = await ndop_platform.send("dongthap.lgsp", [*batch, report("r-3")])
    assert (status, body["accepted"], body["duplicates"]) == (200, 1, 2)
    # A report repeated within one batch is kept once too.
    twice = report("r-4")
    _, body = await ndop_platform.send("dongthap.lgsp", [twice, twice])
    assert (body["accepted"], body["duplicates"]) == (1, 1)
    assert await ndop_platform.ndop.store.count() == 4


async def test_only_an_lgsp_with_a_token_reports_and_only_for_its_own_province(
    ndop_platform: Platform,
) -> None:
    status, body = await ndop_platform.send(None, [report("r-1")])
    assert (status, body["error_code"]) == (401, "100")
    status, body = await ndop_platform.send("bnnmt.datdai", [report("r-1")])
    assert (status, body["error_code"]) == (403, "100")
    # Subscribed to NDOP, but no province's LGSP.
    status, body = await ndop_platform.send("bnnmt.giamsat", [report("r-1")])
    assert (status, body["error_code"]) == (403, "106")
    # Gia Lai's LGSP cannot report for Đồng Tháp, not even within its own batch.
    mixed = [report("r-2", reporter="gialai", role="provider"), report("r-3")]
    status, body = await ndop_platform.send("gialai.lgsp", mixed)
    assert (status, body["error_code"]) == (403, "106")
    assert "dongthap" in body["message"]
    assert await ndop_platform.ndop.store.count() == 0
    status, _ = await ndop_platform.send("gialai.lgsp", mixed[:1])
    assert status == 200


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"{not json", 400),
        (b"[]", 400),
        (orjson.dumps({"traces": [report("r-1")], "more": 1}), 422),
        (orjson.dumps({"traces": [report("r-1"), {**report("r-2"), "version": "1"}]}), 422),
        (orjson.dumps({"traces": [report("r-1"), report("r-2", at="2025-07-01T09:00:00")]}), 422),
        (orjson.dumps({"traces": [report("r-1"), report("r-2", subject="08709000123")]}), 422),
        (orjson.dumps({"traces": [report("r-1"), report("r-2", role="observer")]}), 422),
        (orjson.dumps({"traces": [{k: v for k, v in report("r-1").items() if k != "at"}]}), 422),
        (orjson.dumps({"traces": [report(f"r-{i}") for i in range(1001)]}), 413),
    ],
    ids=[
        "not-json",
        "not-an-object",
        "unknown-field",
        "string-version",
        "time-without-offset",
        "short-personal-id",
        "unknown-role",
        "missing-field",
        "over-1000",
    ],
)
async def test_a_bad_batch_is_refused_whole(
    ndop_platform: Platform, body: bytes, status: int
) -> None:
    got, answer = await ndop_platform.send("dongthap.lgsp", body)
    assert got == status
    assert answer["error_code"] == "302"
    assert answer["message"].startswith("DATA_TYPE_INVALID")
    assert await ndop_platform.ndop.store.count() == 0


async def test_a_full_batch_of_the_longest_reports_is_accepted(ndop_platform: Platform) -> None:
    # Every field at its longest: over aiohttp's default body limit of 1 MiB.
    batch = [
        report(
            f"{i:04d}" + "r" * 60,
            trace_id=f"{i:04d}" + "f" * 60,
            client="dongthap." + "c" * 55,
            agency="ữ" * 200,
            service="land.parcel." + "l" * 116,
            purpose="p" * 64,
        )
        for i in range(1000)
    ]
    body = orjson.dumps({"traces": batch})
    assert len(body) > 1 << 20
    status, answer = await ndop_platform.send("dongthap.lgsp", body)
    assert (status, answer["accepted"]) == (200, 1000)


# -- traffic and traces of a request ---------------------------------------------


async def _both_sides(p: Platform) -> None:
    # r-1: Đồng Tháp's one-stop-shop asks Gia Lai, both LGSPs report it.
    # r-2: refused, reported by the requester only. r-3: failed, by the
    # provider only (the requester's report lost). r-4: the day after.
    # r-5: within Gia Lai, one request about two citizens.
    await p.send(
        "dongthap.lgsp",
        [
            report("r-1", at="2025-07-01T09:00:00.100+07:00"),
            report("r-2", status=403, at="2025-07-01T10:00:00+07:00"),
            report("r-4", at="2025-07-02T08:00:00+07:00"),
        ],
    )
    provider: dict[str, Any] = {"reporter": "gialai", "role": "provider", "client": "ndxp.national"}
    await p.send(
        "gialai.lgsp",
        [
            report("r-1", **provider, agency="NDXP", at="2025-07-01T09:00:00.130+07:00"),
            report("r-3", **provider, agency="NDXP", status=504, at="2025-07-01T11:00:00+07:00"),
            *(
                report(
                    "r-5",
                    reporter="gialai",
                    origin="gialai",
                    client="gialai.onestop",
                    agency="UBND tỉnh Gia Lai — một cửa",
                    service="population.citizen.lookup",
                    subject=who,
                    at="2025-07-01T12:00:00+07:00",
                )
                for who in (HUNG, HONG)
            ),
        ],
    )


async def test_traffic_counts_each_request_once(ndop_platform: Platform) -> None:
    await _both_sides(ndop_platform)
    status, body = await ndop_platform.get(
        "/v1/traffic", **{"from": "2025-07-01T00:00:00+07:00", "to": "2025-07-02"}
    )
    assert (status, body["error_code"]) == (200, "0")
    rows = {(r["origin"], r["client"], r["target"], r["service"]): r for r in body["rows"]}
    assert rows == {
        # r-1 as the requester told it, and r-2.
        ("dongthap", "dongthap.onestop", "gialai", "land.parcel.lookup"): {
            "origin": "dongthap",
            "client": "dongthap.onestop",
            "agency": ONESTOP,
            "target": "gialai",
            "service": "land.parcel.lookup",
            "calls": 2,
            "ok": 1,
            "refused": 1,
            "failed": 0,
        },
        # r-3, known from the provider alone.
        ("dongthap", "ndxp.national", "gialai", "land.parcel.lookup"): {
            "origin": "dongthap",
            "client": "ndxp.national",
            "agency": "NDXP",
            "target": "gialai",
            "service": "land.parcel.lookup",
            "calls": 1,
            "ok": 0,
            "refused": 0,
            "failed": 1,
        },
        # r-5: one request, though about two people.
        ("gialai", "gialai.onestop", "gialai", "population.citizen.lookup"): {
            "origin": "gialai",
            "client": "gialai.onestop",
            "agency": "UBND tỉnh Gia Lai — một cửa",
            "target": "gialai",
            "service": "population.citizen.lookup",
            "calls": 1,
            "ok": 1,
            "refused": 0,
            "failed": 0,
        },
    }
    assert body["totals"] == {"calls": 4, "ok": 2, "refused": 1, "failed": 1}
    assert body["from"] == "2025-07-01T00:00:00+07:00"
    assert body["to"] == "2025-07-02T00:00:00+07:00"


async def test_traffic_of_a_period_and_a_province(ndop_platform: Platform) -> None:
    await _both_sides(ndop_platform)
    # The upper bound is excluded; a '+' left unescaped arrives as a space.
    _, body = await ndop_platform.get(
        "/v1/traffic", **{"from": "2025-07-01T09:00:00.100 07:00", "to": "2025-07-01T11:00:00Z"}
    )
    assert body["totals"] == {"calls": 4, "ok": 2, "refused": 1, "failed": 1}
    _, body = await ndop_platform.get(
        "/v1/traffic",
        **{"from": "2025-07-01T09:00:00.101+07:00", "to": "2025-07-01T11:00:00+07:00"},
    )
    # r-1's requester report is before the period: r-1 is not counted in it.
    assert body["totals"] == {"calls": 1, "ok": 0, "refused": 1, "failed": 0}
    _, body = await ndop_platform.get(
        "/v1/traffic", **{"from": "2025-07-01", "to": "2025-07-03", "province": "dongthap"}
    )
    assert body["province"] == "dongthap"
    assert body["totals"]["calls"] == 4
    assert {r["origin"] for r in body["rows"]} == {"dongthap"}
    _, body = await ndop_platform.get(
        "/v1/traffic", **{"from": "2025-07-01", "to": "2025-07-03", "province": "lamdong"}
    )
    assert (body["rows"], body["totals"]["calls"]) == ([], 0)


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"from": "2025-07-01"},
        {"from": "2025-07-01T00:00:00", "to": "2025-07-02"},
        {"from": "yesterday", "to": "2025-07-02"},
        {"from": "2025-07-02", "to": "2025-07-01"},
        {"from": "2025-07-01", "to": "2025-07-02", "province": "Đồng Tháp"},
    ],
    ids=["nothing", "no-end", "no-offset", "not-a-time", "backwards", "bad-province"],
)
async def test_traffic_needs_a_period(ndop_platform: Platform, params: dict[str, str]) -> None:
    status, body = await ndop_platform.get("/v1/traffic", **params)
    assert (status, body["error_code"]) == (400, "302")


async def test_the_trace_of_a_request_has_both_sides_in_time_order(
    ndop_platform: Platform,
) -> None:
    await _both_sides(ndop_platform)
    status, body = await ndop_platform.get("/v1/traces/r-1")
    assert status == 200
    assert body["request_id"] == "r-1"
    assert [(r["reporter"], r["role"]) for r in body["reports"]] == [
        ("dongthap", "requester"),
        ("gialai", "provider"),
    ]
    # NDOP's operators trace requests, not people: the subject is masked.
    assert {r["subject"] for r in body["reports"]} == {"087*******34"}
    assert body["reports"][0]["at"] == "2025-07-01T09:00:00.100000+07:00"
    status, body = await ndop_platform.get("/v1/traces/r-404")
    assert (status, body["error_code"]) == (404, "201")


async def test_traffic_and_traces_answer_this_machine_only(ndop_platform: Platform) -> None:
    await _both_sides(ndop_platform)
    for path, params in (
        ("/v1/traffic", {"from": "2025-07-01", "to": "2025-07-02"}),
        ("/v1/traces/r-1", {}),
    ):
        async with ndop_platform.http.get(
            f"{ndop_platform.url}/ndop{path}", params=params, headers={PEER: "10.1.2.3"}
        ) as r:
            assert r.status == 403
            assert (await r.json())["error_code"] == "101"


async def test_traffic_from_anywhere_when_the_platform_allows_its_admin_routes() -> None:
    async with (
        platform(admin_from_anywhere=True) as p,
        p.http.get(
            f"{p.url}/ndop/v1/traffic",
            params={"from": "2025-07-01", "to": "2025-07-02"},
            headers={PEER: "10.1.2.3"},
        ) as r,
    ):
        assert r.status == 200


# -- the citizens' data tracker ---------------------------------------------------


async def test_each_citizen_sees_every_use_of_their_own_data_only(
    ndop_platform: Platform,
) -> None:
    await _both_sides(ndop_platform)
    status, body, r = await ndop_platform.track(HUNG, HUNG_BORN)
    assert status == 200
    assert r.headers["Cache-Control"] == "no-store"
    answer = LichSuTruyCap.model_validate_json(body)  # the bus contract's shape
    assert answer.soDinhDanh == "087*******34"
    seen = [
        (a.thoiDiem.isoformat(), a.maCoQuan, a.tinh, a.dichVu, a.mucDich, a.ketQua)
        for a in answer.truyCap
    ]
    # Newest first, one per request: r-1 as its requester told it.
    assert seen == [
        (
            "2025-07-02T08:00:00+07:00",
            "dongthap.onestop",
            "dongthap",
            "land.parcel.lookup",
            "1.004873",
            "ok",
        ),
        (
            "2025-07-01T12:00:00+07:00",
            "gialai.onestop",
            "gialai",
            "population.citizen.lookup",
            "1.004873",
            "ok",
        ),
        (
            "2025-07-01T11:00:00+07:00",
            "ndxp.national",
            "dongthap",
            "land.parcel.lookup",
            "1.004873",
            "failed",
        ),
        (
            "2025-07-01T10:00:00+07:00",
            "dongthap.onestop",
            "dongthap",
            "land.parcel.lookup",
            "1.004873",
            "refused",
        ),
        (
            "2025-07-01T09:00:00.100000+07:00",
            "dongthap.onestop",
            "dongthap",
            "land.parcel.lookup",
            "1.004873",
            "ok",
        ),
    ]
    assert answer.truyCap[-1].coQuan == ONESTOP
    # Hồng was only in r-5.
    status, body, _ = await ndop_platform.track(HONG, HONG_BORN)
    answer = LichSuTruyCap.model_validate_json(body)
    assert answer.soDinhDanh == "087*******21"
    assert [(a.maCoQuan, a.dichVu) for a in answer.truyCap] == [
        ("gialai.onestop", "population.citizen.lookup")
    ]


async def test_a_citizen_nobody_asked_about_has_an_empty_history(
    ndop_platform: Platform,
) -> None:
    status, body, _ = await ndop_platform.track(HONG, HONG_BORN)
    assert status == 200
    assert orjson.loads(body) == {"soDinhDanh": "087*******21", "truyCap": []}


async def test_a_wrong_birth_date_answers_exactly_as_an_unknown_id(
    ndop_platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _both_sides(ndop_platform)
    histories: list[str] = []
    store = ndop_platform.ndop.store
    read = store.accesses

    async def spied(subject: str) -> list[ndop.Access]:
        histories.append(subject)
        return await read(subject)

    monkeypatch.setattr(store, "accesses", spied)
    wrong = await ndop_platform.track(HUNG, HONG_BORN)
    unknown = await ndop_platform.track(UNKNOWN, HONG_BORN)
    assert wrong[0] == unknown[0] == 404
    assert wrong[1] == unknown[1]
    assert orjson.loads(wrong[1]) == {
        "error_code": "201",
        "message": "RECORD_NOT_FOUND: no record matches this personal id and birth date",
    }
    assert dict(wrong[2].headers).keys() - {"Date"} == dict(unknown[2].headers).keys() - {"Date"}
    # The same work on both paths: the register asked, no history read.
    assert ndop_platform.asked == [HUNG, UNKNOWN]
    assert histories == []


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"{}",
        orjson.dumps({"soDinhDanh": HUNG}),
        orjson.dumps({"soDinhDanh": HUNG[:11], "ngaySinh": "1990-05-17"}),
        orjson.dumps({"soDinhDanh": int(HUNG), "ngaySinh": "1990-05-17"}),
        orjson.dumps({"soDinhDanh": HUNG, "ngaySinh": "17/05/1990"}),
        orjson.dumps({"soDinhDanh": HUNG, "ngaySinh": "1990-05-17", "hoVaTen": "Hùng"}),
    ],
    ids=["not-json", "empty", "no-date", "short-id", "number-id", "not-iso", "unknown-field"],
)
async def test_a_malformed_question_is_400(ndop_platform: Platform, body: bytes) -> None:
    async with ndop_platform.http.post(
        f"{ndop_platform.url}/ndop/v1/tracker", data=body, headers={"Content-Type": "x/y"}
    ) as r:
        assert r.status == 400
        assert (await r.json())["error_code"] == "302"
    assert ndop_platform.asked == []


async def test_tries_beyond_the_allowance_are_429_per_caller() -> None:
    async with platform(tracker_rate="3/minute", client_tracker_rate="2/minute") as p:
        for _ in range(3):
            assert (await p.track(UNKNOWN, HUNG_BORN))[0] == 404
        status, body, r = await p.track(HUNG, HUNG_BORN)  # even the right proof
        assert status == 429
        assert 1 <= int(r.headers["Retry-After"]) <= 60
        assert orjson.loads(body)["message"].startswith("SYSTEM_ERROR: too many attempts")
        # Another address has its own allowance.
        assert (await p.track(HUNG, HUNG_BORN, {PEER: "10.1.2.3"}))[0] == 200
        # So has an LGSP asking with its token, and a bad token is no way around it.
        bearer = {"Authorization": f"Bearer {await p.token('dongthap.lgsp')}"}
        assert [(await p.track(HUNG, HUNG_BORN, bearer))[0] for _ in range(3)] == [200, 200, 429]
        assert (await p.track(HUNG, HUNG_BORN, {"Authorization": "Bearer forged"}))[0] == 401
        other = {"Authorization": f"Bearer {await p.token('bnnmt.datdai')}"}
        assert (await p.track(HUNG, HUNG_BORN, other))[0] == 403
    # Malformed tries count too.
    async with platform(tracker_rate="1/minute") as p:
        assert (await p.track(HUNG, "1990-5-17"))[0] == 400
        assert (await p.track(HUNG, HUNG_BORN))[0] == 429


async def test_the_page_is_served_with_its_assets_and_nothing_else(
    ndop_platform: Platform,
) -> None:
    async with ndop_platform.http.get(f"{ndop_platform.url}/ndop/tracker") as r:
        assert r.status == 200
        assert r.content_type == "text/html"
        assert r.headers["Content-Security-Policy"].startswith("default-src 'self'")
        page = await r.text()
    assert 'src="static/tracker.js"' in page
    assert "http" not in page.replace('lang="en"', "")  # no external resource
    for asset in ("tracker.js", "tracker.css"):
        async with ndop_platform.http.get(f"{ndop_platform.url}/ndop/static/{asset}") as r:
            assert r.status == 200


def test_the_contract_of_the_bus_service_answers_as_the_tracker() -> None:
    example = ACCESS_HISTORY_V1.examples[0]
    assert example.response["soDinhDanh"] == mask(example.request["soDinhDanh"])
    assert ACCESS_HISTORY_V1.error("ndop.access.not_found") is not None


def test_a_personal_id_is_masked_as_the_bus_masks_it() -> None:
    assert mask("087090001234") == "087*******34"


# -- storage -----------------------------------------------------------------------


async def test_reports_survive_a_restart_in_the_data_folder(tmp_path: Path) -> None:
    folder = tmp_path / "ndop"
    first = report("r-1")
    async with platform(data_dir=folder) as p:
        await p.send("dongthap.lgsp", [first])
    assert stat.S_IMODE((folder / "traces.db").stat().st_mode) == 0o600
    async with platform(data_dir=folder) as p:
        _, kept = await p.send("dongthap.lgsp", [first, report("r-2")])
        assert (kept["accepted"], kept["duplicates"]) == (1, 1)
        status, history, _ = await p.track(HUNG, HUNG_BORN)
        assert status == 200
        assert len(orjson.loads(history)["truyCap"]) == 2


async def test_a_hundred_thousand_reports_are_answered_quickly() -> None:
    store = TraceStore()
    await store.open()
    try:
        start = dt.datetime(2025, 7, 1, tzinfo=dt.UTC)
        subjects = [f"087090{n:06d}" for n in range(5000)]
        for batch in range(100):
            await store.add(
                [
                    Trace.model_validate(
                        report(
                            f"r-{batch}-{i}",
                            subject=subjects[(batch * 1000 + i) % len(subjects)],
                            at=(start + dt.timedelta(seconds=batch * 1000 + i)).isoformat(),
                            status=200 if i % 10 else 404,
                        ),
                        strict=False,
                    )
                    for i in range(1000)
                ]
            )
        assert await store.count() == 100_000
        began = time.perf_counter()
        rows = await store.traffic(start, start + dt.timedelta(days=30))
        traffic_s = time.perf_counter() - began
        assert sum(r.calls for r in rows) == 100_000
        assert sum(r.refused for r in rows) == 10_000
        began = time.perf_counter()
        accesses = await store.accesses(subjects[42])
        history_s = time.perf_counter() - began
        assert len(accesses) == 20
        began = time.perf_counter()
        assert len(await store.request("r-99-999")) == 1
        request_s = time.perf_counter() - began
    finally:
        await store.close()
    # Generous bounds for a busy two-core machine; the indexes make them
    # milliseconds.
    assert traffic_s < 3.0, traffic_s
    assert history_s < 0.5, history_s
    assert request_s < 0.5, request_s

"""The simulated NDXP as a remote platform, over HTTP: OAuth2 tokens that
expire, the national population database and public service portal in their
native formats, forwarding into a real LGSP gateway, and faults injected at
run time."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp.test_utils import TestServer
from click.testing import CliRunner

from lgsp.cli import main
from lgsp_adapters.ndxp import Faults, Simulator, SimulatorConfig, create_app, platform, running
from lgsp_adapters.ndxp.native import (
    CongDanNative,
    date_out,
    time_out,
)
from lgsp_contracts.population import CITIZEN_LOOKUP_V1, CongDan
from tests.support.ndxp import MINISTRY, token

HUNG = CongDan.model_validate_json(orjson.dumps(CITIZEN_LOOKUP_V1.examples[0].response))
ASK = {"MaYeuCau": "dongthap.onestop-20250606-000001", "MaDVC": "1.004873", "MaCanBo": "cb01"}
DOSSIER = {
    "MaHoSo": "000.00.00.H20-250606-0009",
    "MaTTHC": "1.004873",
    "TenTTHC": "Cấp Giấy xác nhận tình trạng hôn nhân",
    "ChuHoSo": "Lê Thị Hồng",
    "LoaiDoiTuong": "1",
    "MaDoiTuong": "087192004321",
    "NgayTiepNhan": "20250606093000",
    "NgayHenTra": "20250611093000",
    "TrangThaiHoSo": "2",
}
WAIT = 5.0
"""Seconds a test waits for a condition."""


@pytest.fixture(scope="module")
async def sim() -> AsyncIterator[Simulator]:
    async with running(SimulatorConfig(port=0, token_ttl_s=2, seed=7)) as simulator:
        yield simulator


@pytest.fixture(scope="module")
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture(autouse=True)
async def healthy(sim: Simulator) -> None:
    await sim.set_faults(Faults())
    sim.dossiers.clear()


async def post(
    http: aiohttp.ClientSession, sim: Simulator, path: str, body: Any, bearer: str
) -> tuple[int, Any]:
    r = await http.post(
        f"{sim.url}{path}", json=body, headers={"Authorization": f"Bearer {bearer}"}
    )
    return r.status, await r.json()


async def session(http: aiohttp.ClientSession, sim: Simulator, bearer: str) -> str:
    status, body = await post(
        http,
        sim,
        "/dvcqg/1.0/login",
        {"username": "dongthap.lgsp", "password": "demo-dvcqg-password"},
        bearer,
    )
    assert (status, body["error_code"]) == (200, "0")
    return str(body["session"])


async def portal(
    http: aiohttp.ClientSession,
    sim: Simulator,
    bearer: str,
    service: str,
    *items: dict[str, Any],
    madonvi: str = "000.00.00.H20",
) -> Any:
    body = {
        "session": await session(http, sim, bearer),
        "madonvi": madonvi,
        "service": service,
        "data": list(items),
        "isUpdating": "False",
    }
    status, answer = await post(http, sim, "/dvcqg/1.0/integration", body, bearer)
    assert status == 200
    return answer


def step(status: str, at: str, ma_ho_so: str = DOSSIER["MaHoSo"]) -> dict[str, str]:
    return {"MaHoSo": ma_ho_so, "ThoiDiemXuLy": at, "TrangThai": status, "NoiDungXuLy": "..."}


# -- tokens -----------------------------------------------------------------


async def test_token_from_form_or_basic_credentials(
    http: aiohttp.ClientSession, sim: Simulator
) -> None:
    r = await http.post(
        f"{sim.url}/token",
        data={"grant_type": "client_credentials"},
        headers={
            "Authorization": "Basic "
            + base64.b64encode(b"dongthap.lgsp:demo-lgsp-ndxp-secret").decode()
        },
    )
    body = await r.json()
    assert r.status == 200
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 2
    assert set(body["scope"].split()) == {"dancu", "dvcqg", "lgsp", "ndop"}
    assert await token(http, sim) != body["access_token"]


@pytest.mark.parametrize(
    ("form", "status", "error"),
    [
        (
            {
                "grant_type": "client_credentials",
                "client_id": "dongthap.lgsp",
                "client_secret": "x",
            },
            401,
            "invalid_client",
        ),
        (
            {"grant_type": "client_credentials", "client_id": "nobody", "client_secret": "x"},
            401,
            "invalid_client",
        ),
        ({"grant_type": "client_credentials"}, 401, "invalid_client"),
        ({"grant_type": "password", "client_id": "dongthap.lgsp"}, 400, "unsupported_grant_type"),
    ],
)
async def test_token_refused(
    http: aiohttp.ClientSession, sim: Simulator, form: dict[str, str], status: int, error: str
) -> None:
    r = await http.post(f"{sim.url}/token", data=form)
    assert r.status == status
    assert (await r.json())["error"] == error


@pytest.mark.parametrize("bearer", ["forged-token", ""])
async def test_forged_or_missing_token_is_a_native_authen_error(
    http: aiohttp.ClientSession, sim: Simulator, bearer: str
) -> None:
    before = sim.unauthorized
    status, body = await post(http, sim, "/dancu/1.0/TraCuuThongTinCongDan", ASK, bearer)
    assert status == 401
    assert body["error_code"] == "100"
    assert body["message"].startswith("AUTHEN_ERROR")
    assert sim.unauthorized == before + 1


async def test_expired_tokens_are_refused(http: aiohttp.ClientSession, sim: Simulator) -> None:
    bearer = await token(http, sim)
    body = {**ASK, "SoDinhDanh": HUNG.soDinhDanh}
    assert (await post(http, sim, "/dancu/1.0/TraCuuThongTinCongDan", body, bearer))[0] == 200
    r = await http.post(f"{sim.url}/admin/faults/expire-tokens")
    assert r.status == 200
    status, answer = await post(http, sim, "/dancu/1.0/TraCuuThongTinCongDan", body, bearer)
    assert (status, answer["error_code"]) == (401, "100")


async def test_clients_reach_only_their_apis(http: aiohttp.ClientSession, sim: Simulator) -> None:
    ministry = await token(http, sim, MINISTRY)
    for path in ("/dancu/1.0/TraCuuThongTinCongDan", "/dvcqg/1.0/login"):
        status, body = await post(http, sim, path, ASK, ministry)
        assert (status, body["error_code"]) == (403, "100"), path
    # A province's LGSP may forward (to other provinces: tests/unit/test_ndxp_forward.py).
    province = await token(http, sim)
    status, body = await post(http, sim, "/lgsp/dongthap/land.parcel.lookup", {}, province)
    assert (status, body["error_code"]) == (400, "500")


# -- population database ----------------------------------------------------


async def test_lookup_answers_the_native_record(
    http: aiohttp.ClientSession, sim: Simulator
) -> None:
    bearer = await token(http, sim)
    status, body = await post(
        http,
        sim,
        "/dancu/1.0/TraCuuThongTinCongDan",
        {**ASK, "SoDinhDanh": HUNG.soDinhDanh},
        bearer,
    )
    assert (status, body["error_code"]) == (200, "0")
    record = body["data"]
    assert record["HoVaTen"] == {"Ho": "Nguyễn", "ChuDem": "Văn", "Ten": "Hùng"}
    assert record["NgayThangNamSinh"] == {"NgayThangNam": "19900517"}
    assert record["GioiTinh"] == "1"
    assert record["VoChong"] == {"SoDinhDanh": "087192004321"}
    assert CongDanNative.model_validate(record).record() == HUNG


@pytest.mark.parametrize(
    "known",
    [
        {"SoDinhDanh": "087090999999"},
        {"SoDinhDanh": HUNG.soDinhDanh, "HoVaTen": "Nguyễn Văn Hưng"},
        {"SoDinhDanh": HUNG.soDinhDanh, "NgayThangNamSinh": "19900518"},
    ],
)
async def test_lookup_of_nobody_is_record_not_found(
    http: aiohttp.ClientSession, sim: Simulator, known: dict[str, str]
) -> None:
    status, body = await post(
        http, sim, "/dancu/1.0/TraCuuThongTinCongDan", {**ASK, **known}, await token(http, sim)
    )
    assert (status, body["error_code"]) == (200, "201")
    assert "data" not in body


async def test_lookup_with_mistyped_data_is_data_type_invalid(
    http: aiohttp.ClientSession, sim: Simulator
) -> None:
    status, body = await post(
        http,
        sim,
        "/dancu/1.0/TraCuuThongTinCongDan",
        {**ASK, "SoDinhDanh": HUNG.soDinhDanh, "NgayThangNamSinh": "1990-05-17"},
        await token(http, sim),
    )
    assert (status, body["error_code"]) == (400, "302")


@pytest.mark.parametrize(
    ("name", "born", "match", "wrong"),
    [
        ("nguyễn  văn HÙNG", "19900517", True, []),
        ("Nguyễn Văn Hưng", "19900517", False, ["HoVaTen"]),
        ("Nguyễn Văn Hùng", "19910517", False, ["NgayThangNamSinh"]),
        ("Trần Văn Hùng", "19900101", False, ["HoVaTen", "NgayThangNamSinh"]),
    ],
)
async def test_verification_answers_only_whether_it_matches(
    http: aiohttp.ClientSession,
    sim: Simulator,
    name: str,
    born: str,
    match: bool,
    wrong: list[str],
) -> None:
    body = {**ASK, "SoDinhDanh": HUNG.soDinhDanh, "HoVaTen": name, "NgayThangNamSinh": born}
    status, answer = await post(
        http, sim, "/dancu/1.0/XacThucThongTinCongDan", body, await token(http, sim)
    )
    assert (status, answer["error_code"]) == (200, "0")
    # Never the record.
    assert answer["data"] == {"KetQuaXacThuc": match, "TruongKhongKhop": wrong}
    assert "Kinh" not in str(answer)


async def test_verification_of_an_unknown_id(http: aiohttp.ClientSession, sim: Simulator) -> None:
    body = {**ASK, "SoDinhDanh": "087090999999", "HoVaTen": "A B", "NgayThangNamSinh": "19900101"}
    status, answer = await post(
        http, sim, "/dancu/1.0/XacThucThongTinCongDan", body, await token(http, sim)
    )
    assert (status, answer["error_code"]) == (200, "201")


STATISTICS = "/dancu/1.0/ThongKeDanSo"


async def test_statistics_answer_counts_in_the_native_format(
    http: aiohttp.ClientSession, sim: Simulator
) -> None:
    before = sim.calls["ThongKeDanSo"]
    status, body = await post(
        http,
        sim,
        STATISTICS,
        {**ASK, "NgayThongKe": "20250701", "MaPhuongXa": "29869"},
        await token(http, sim),
    )
    assert (status, body["error_code"]) == (200, "0")
    assert sim.calls["ThongKeDanSo"] == before + 1
    result = body["data"]
    assert result["NgayThongKe"] == "20250701"
    cells = result["DanhSach"]
    assert {c["MaPhuongXa"] for c in cells} == {"29869"}
    assert {c["GioiTinh"] for c in cells} == {"1", "2"}
    assert all(c["SoNguoi"] >= 1 for c in cells)
    # The demo family lives there: the father (35 on that day) is counted.
    assert any(c["NhomTuoi"] == "35-39" and c["GioiTinh"] == "1" for c in cells)
    # Only counts: no personal id, name or address.
    assert HUNG.soDinhDanh not in str(body)
    assert set(cells[0]) == {"MaPhuongXa", "TenPhuongXa", "NhomTuoi", "GioiTinh", "SoNguoi"}


async def test_statistics_of_every_commune_count_every_resident(
    http: aiohttp.ClientSession, sim: Simulator
) -> None:
    status, body = await post(
        http, sim, STATISTICS, {**ASK, "NgayThongKe": "20250701"}, await token(http, sim)
    )
    assert (status, body["error_code"]) == (200, "0")
    cells = body["data"]["DanhSach"]
    assert sum(c["SoNguoi"] for c in cells) == 10_000
    assert len({c["MaPhuongXa"] for c in cells}) > 50


@pytest.mark.parametrize(
    ("fields", "status", "code"),
    [
        ({"NgayThongKe": "20250701", "MaPhuongXa": "99999"}, 200, "201"),  # no such commune
        ({"NgayThongKe": "2025-07-01"}, 400, "302"),
        ({"NgayThongKe": "20250231"}, 400, "302"),
        ({"NgayThongKe": "20250701", "MaPhuongXa": "2986"}, 400, "302"),
        ({}, 400, "302"),
    ],
)
async def test_statistics_refuse_what_they_cannot_count(
    http: aiohttp.ClientSession,
    sim: Simulator,
    fields: dict[str, str],
    status: int,
    code: str,
) -> None:
    answer = await post(http, sim, STATISTICS, {**ASK, **fields}, await token(http, sim))
    assert (answer[0], answer[1]["error_code"]) == (status, code)
    assert "data" not in answer[1]


async def test_statistics_are_for_the_population_api_s_clients_only(
    http: aiohttp.ClientSession, sim: Simulator
) -> None:
    ministry = await token(http, sim, MINISTRY)
    status, body = await post(http, sim, STATISTICS, {**ASK, "NgayThongKe": "20250701"}, ministry)
    assert (status, body["error_code"]) == (403, "100")


async def test_statistics_fail_as_injected(http: aiohttp.ClientSession, sim: Simulator) -> None:
    bearer = await token(http, sim)
    await sim.set_faults(Faults(fail_next=1))
    ask = {**ASK, "NgayThongKe": "20250701", "MaPhuongXa": "29869"}
    status, body = await post(http, sim, STATISTICS, ask, bearer)
    assert (status, body["error_code"]) == (500, "1")
    status, body = await post(http, sim, STATISTICS, ask, bearer)
    assert (status, body["error_code"]) == (200, "0")


# -- public service portal --------------------------------------------------


async def test_portal_login_and_session(http: aiohttp.ClientSession, sim: Simulator) -> None:
    bearer = await token(http, sim)
    status, body = await post(
        http, sim, "/dvcqg/1.0/login", {"username": "dongthap.lgsp", "password": "x"}, bearer
    )
    assert (status, body["error_code"]) == (200, "100")
    request = {
        "session": "forged",
        "madonvi": "000.00.00.H20",
        "service": "DongBoHoSoMC",
        "data": [DOSSIER],
    }
    status, body = await post(http, sim, "/dvcqg/1.0/integration", request, bearer)
    assert (status, body["error_code"]) == (200, "100")
    assert len(sim.dossiers) == 0


async def test_portal_keeps_each_status_once_and_reads_back(
    http: aiohttp.ClientSession, sim: Simulator
) -> None:
    bearer = await token(http, sim)
    answer = await portal(http, sim, bearer, "DongBoHoSoMC", DOSSIER)
    assert answer["error_code"] == "00"
    assert answer["result"] == [{"MaHoSo": DOSSIER["MaHoSo"], "TrangThai": "2", "SoTrangThai": 0}]
    received = step("2", "20250606093000")
    for _ in range(2):  # the same status twice is one entry
        answer = await portal(http, sim, bearer, "CapNhatTienDoHoSoMC", received)
        assert answer["result"][0] == {
            "MaHoSo": DOSSIER["MaHoSo"],
            "TrangThai": "2",
            "SoTrangThai": 1,
        }
    answer = await portal(http, sim, bearer, "CapNhatTienDoHoSoMC", step("4", "20250606100000"))
    assert answer["result"][0]["TrangThai"] == "4"
    assert answer["result"][0]["SoTrangThai"] == 2
    # An older step arriving late does not turn the dossier back.
    answer = await portal(http, sim, bearer, "CapNhatTienDoHoSoMC", step("2", "20250606093000"))
    assert answer["result"][0] == {"MaHoSo": DOSSIER["MaHoSo"], "TrangThai": "4", "SoTrangThai": 2}

    r = await http.get(f"{sim.url}/dvcqg/hoso/{DOSSIER['MaHoSo']}")
    held = (await r.json())["data"]
    assert held["TrangThaiHoSo"] == "4"
    assert held["HoSo"]["ChuHoSo"] == "Lê Thị Hồng"
    assert [(s["TrangThai"], s["ThoiDiemXuLy"]) for s in held["TienDo"]] == [
        ("2", "20250606093000"),
        ("4", "20250606100000"),
    ]
    assert all(len(s["NhanLuc"]) == 14 for s in held["TienDo"])
    assert [c["service"] for c in held["LichSuDongBo"]] == ["DongBoHoSoMC"] + [
        "CapNhatTienDoHoSoMC"
    ] * 4
    r = await http.get(f"{sim.url}/dvcqg/hoso")
    assert (await r.json())["data"] == [
        {"MaHoSo": DOSSIER["MaHoSo"], "MaTTHC": "1.004873", "TrangThaiHoSo": "4", "SoTrangThai": 2}
    ]


async def test_unknown_dossier_reads_back_record_not_found(
    http: aiohttp.ClientSession, sim: Simulator
) -> None:
    r = await http.get(f"{sim.url}/dvcqg/hoso/000.00.00.H20-250606-0404")
    assert r.status == 404
    assert (await r.json())["error_code"] == "201"


@pytest.mark.parametrize(
    ("service", "item", "code"),
    [
        ("CapNhatTienDoHoSoMC", step("4", "20250606100000", "000.00.00.H20-250606-0404"), "201"),
        ("DongBoHoSoMC", {**DOSSIER, "NgayTiepNhan": "2025-06-06"}, "302"),
        ("DongBoHoSoMC", {**DOSSIER, "TrangThaiHoSo": "11"}, "302"),
        ("DongBoHoSoMC", {**DOSSIER, "NgayHenTra": "20250605093000"}, "500"),
        ("CapNhatTienDoHoSoMC", step("4", "20250601000000"), "500"),
        ("LayThuTuc", DOSSIER, "302"),
    ],
)
async def test_portal_refuses_wrong_data(
    http: aiohttp.ClientSession, sim: Simulator, service: str, item: dict[str, Any], code: str
) -> None:
    bearer = await token(http, sim)
    if service == "CapNhatTienDoHoSoMC":
        await portal(http, sim, bearer, "DongBoHoSoMC", DOSSIER)
    answer = await portal(http, sim, bearer, service, item)
    assert answer["error_code"] == code


async def test_portal_refuses_another_agency(http: aiohttp.ClientSession, sim: Simulator) -> None:
    answer = await portal(
        http, sim, await token(http, sim), "DongBoHoSoMC", DOSSIER, madonvi="000.00.00.H29"
    )
    assert answer["error_code"] == "106"


def test_portal_formats() -> None:
    import datetime as dt

    moment = dt.datetime(2025, 6, 6, 2, 30, tzinfo=dt.UTC)
    assert time_out(moment) == "20250606093000"
    assert date_out(dt.date(1990, 5, 17)) == "19900517"


# -- forwarding into the province's LGSP ------------------------------------


async def test_forwarding_to_an_unreachable_lgsp(http: aiohttp.ClientSession) -> None:
    async with running(SimulatorConfig(port=0, lgsp_url="http://127.0.0.1:9")) as sim:
        r = await http.post(
            f"{sim.url}/lgsp/dongthap/land.parcel.lookup",
            json={},
            headers={"Authorization": f"Bearer {await token(http, sim, MINISTRY)}"},
        )
        assert r.status == 502
        assert (await r.json())["error_code"] == "1"


# -- faults -----------------------------------------------------------------


async def test_faults_admin_route(http: aiohttp.ClientSession, sim: Simulator) -> None:
    r = await http.put(f"{sim.url}/admin/faults", json={"latency_ms": 5, "error_rate": 0.5})
    assert r.status == 200
    assert (await r.json())["faults"]["error_rate"] == 0.5
    assert sim.faults.latency_ms == 5
    r = await http.get(f"{sim.url}/admin/faults")
    assert (await r.json())["faults"]["latency_ms"] == 5
    r = await http.delete(f"{sim.url}/admin/faults")
    assert (await r.json())["faults"] == Faults().model_dump()


@pytest.mark.parametrize(
    "faults",
    [
        {"latency_ms": 10**9},
        {"error_rate": 1.5},
        {"outage": "refuse", "outage_s": 3600},
        {"outage": "forever"},
        {"typo": 1},
    ],
)
async def test_faults_are_bounded(
    http: aiohttp.ClientSession, sim: Simulator, faults: dict[str, Any]
) -> None:
    r = await http.put(f"{sim.url}/admin/faults", json=faults)
    assert r.status == 422
    assert sim.faults == Faults()


async def test_injected_errors(http: aiohttp.ClientSession, sim: Simulator) -> None:
    await sim.set_faults(Faults(fail_next=2))
    statuses = []
    for _ in range(3):
        r = await http.post(f"{sim.url}/token", data={"grant_type": "client_credentials"})
        statuses.append(r.status)
        if r.status == 500:
            assert (await r.json())["error_code"] == "1"
    assert statuses == [500, 500, 401]
    await sim.set_faults(Faults(error_rate=1.0))
    r = await http.post(f"{sim.url}/token", data={"grant_type": "client_credentials"})
    assert r.status == 500


async def test_added_latency(http: aiohttp.ClientSession, sim: Simulator) -> None:
    await sim.set_faults(Faults(latency_ms=60, jitter_ms=20))
    started = time.perf_counter()
    await http.post(f"{sim.url}/token", data={"grant_type": "client_credentials"})
    assert time.perf_counter() - started >= 0.06
    # Admin routes are never faulted.
    started = time.perf_counter()
    await http.get(f"{sim.url}/admin/calls")
    assert time.perf_counter() - started < 0.06


async def test_outage_answers_503_then_ends(http: aiohttp.ClientSession, sim: Simulator) -> None:
    await sim.set_faults(Faults(outage="unavailable", outage_s=0.3))
    r = await http.post(f"{sim.url}/token", data={"grant_type": "client_credentials"})
    assert r.status == 503
    assert r.headers["Retry-After"] == "1"
    assert (await r.json())["error_code"] == "1"
    async with asyncio.timeout(WAIT):
        while r.status == 503:
            r = await http.post(f"{sim.url}/token", data={"grant_type": "client_credentials"})
    assert r.status == 401
    assert sim.faults.outage == "none"


async def test_refusal_outage_stops_listening(http: aiohttp.ClientSession, sim: Simulator) -> None:
    r = await http.get(f"{sim.url}/healthz")  # a keep-alive connection to drop
    assert r.status == 200
    await sim.set_faults(Faults(outage="refuse", outage_s=60))
    for _ in range(2):  # the open connection is gone, new ones are refused
        with pytest.raises(aiohttp.ClientConnectionError):
            await http.get(f"{sim.url}/healthz")
    await sim.set_faults(Faults())
    r = await http.get(f"{sim.url}/healthz")
    assert r.status == 200


async def test_refusal_outage_set_over_http_ends_by_itself(
    http: aiohttp.ClientSession, sim: Simulator
) -> None:
    r = await http.put(f"{sim.url}/admin/faults", json={"outage": "refuse", "outage_s": 0.2})
    assert r.status == 200  # answered before the platform stopped listening
    with pytest.raises(aiohttp.ClientConnectionError):
        await http.get(f"{sim.url}/healthz")
    async with asyncio.timeout(WAIT):
        while True:
            try:
                r = await http.get(f"{sim.url}/healthz")
                break
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.02)
    assert r.status == 200


async def test_refusal_served_by_another_runner_drops_connections(
    http: aiohttp.ClientSession,
) -> None:
    config = SimulatorConfig(faults=Faults(outage="refuse"))
    async with TestServer(create_app(config), host="127.0.0.1") as server:
        with pytest.raises(aiohttp.ClientConnectionError):
            await http.post(str(server.make_url("/token")), data={})


async def test_calls_from_unregistered_addresses_are_refused(
    http: aiohttp.ClientSession,
) -> None:
    config = SimulatorConfig(allowed_networks=("10.0.0.0/8",))
    async with TestServer(create_app(config), host="127.0.0.1") as server:
        r = await http.post(str(server.make_url("/token")), data={})
        assert r.status == 403
        assert (await r.json())["error_code"] == "101"
        r = await http.get(str(server.make_url("/admin/calls")))  # this machine
        assert r.status == 200


async def test_calls_are_counted(http: aiohttp.ClientSession, sim: Simulator) -> None:
    before = sim.total_calls
    await http.post(f"{sim.url}/token", data={"grant_type": "client_credentials"})
    await http.get(f"{sim.url}/admin/faults")
    r = await http.get(f"{sim.url}/admin/calls")
    body = await r.json()
    assert body["total"] == before + 1 == sim.total_calls
    assert body["calls"]["token"] == sim.calls["token"]


# -- running it -------------------------------------------------------------


async def test_the_platform_runs_it_on_the_configured_port(
    http: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lgsp.server import load_platforms, load_sidecars

    assert load_platforms()["ndxp-sim"] is platform
    assert "ndxp-sim" not in load_sidecars()  # one platform for every province
    monkeypatch.setenv("LGSP_NDXP_PORT", "0")
    provinces: dict[str, str] = {}
    async with platform(provinces=provinces) as sim:
        # It forwards to the provinces the runner names, as they start.
        provinces["dongthap"] = "http://127.0.0.1:18081"
        assert sim.config.gateways == {"dongthap": "http://127.0.0.1:18081"}
        r = await http.get(f"{sim.url}/healthz")
        assert r.status == 200
    monkeypatch.setenv("LGSP_NDXP_PORT", "8090")
    async with platform(provinces=provinces, ephemeral=True) as sim:
        assert not sim.url.endswith(":8090")


async def test_the_platform_points_this_process_s_connector_at_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from lgsp_adapters.ndxp import connector

    saved = connector.connector().settings
    try:
        monkeypatch.setenv("LGSP_NDXP_PORT", "0")
        monkeypatch.delenv("LGSP_NDXP_URL", raising=False)
        async with platform(provinces={}) as sim:
            assert connector.connector().settings.url == sim.url
        # Another NDXP named in the environment is left alone, unless ephemeral.
        monkeypatch.setenv("LGSP_NDXP_URL", "http://127.0.0.1:9")
        connector.configure(url="http://127.0.0.1:9")
        async with platform(provinces={}) as sim:
            assert connector.connector().settings.url == "http://127.0.0.1:9"
        async with platform(provinces={}, ephemeral=True) as sim:
            assert connector.connector().settings.url == sim.url
    finally:
        connector.configure(saved)


def test_cli_command() -> None:
    result = CliRunner().invoke(main, ["ndxp-sim", "--help"])
    assert result.exit_code == 0, result.output
    for flag in (
        "--port",
        "--lgsp-url",
        "--province",
        "--token-ttl",
        "--latency-ms",
        "--error-rate",
        "--outage",
    ):
        assert flag in result.output
    for bad in ("gialai", "Gia Lai=http://127.0.0.1:8081", "gialai=127.0.0.1:8081"):
        result = CliRunner().invoke(main, ["ndxp-sim", "--province", bad])
        assert result.exit_code == 2, bad
        assert "NAME=URL" in result.output
    result = CliRunner().invoke(main, ["ndxp-sim", "--error-rate", "2"])
    assert result.exit_code == 2
    result = CliRunner().invoke(main, ["ndxp-sim", "--outage", "refuse", "--outage-s", "3000"])
    assert result.exit_code == 2
    assert "600" in result.output

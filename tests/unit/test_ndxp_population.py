"""The national population database behind an NDXP that links several
provinces: a citizen is found whichever of them they live in, statistics
are of the calling LGSP's own province, and NDOP, mounted beside it, checks
the tracker's proof against the same register."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from lgsp_adapters import dataset
from lgsp_adapters.ndxp import Simulator, SimulatorConfig, running
from lgsp_adapters.ndxp.native import date_out
from tests.support.ndxp import PROVINCE, token

GIALAI = ("gialai.lgsp", "demo-lgsp-ndxp-secret")
PHUTHO = ("phutho.lgsp", "demo-lgsp-ndxp-secret")
ASK = {"MaYeuCau": "dongthap.onestop-20250701-000001", "MaDVC": "1.004873", "MaCanBo": "cb01"}
NOWHERE = "http://127.0.0.1:9"
"""No gateway answers there: nothing here is forwarded."""


@pytest.fixture(scope="module")
async def network() -> AsyncIterator[Simulator]:
    provinces = {"dongthap": NOWHERE, "gialai": NOWHERE}
    async with running(SimulatorConfig(port=0, provinces=provinces)) as sim:
        yield sim


@pytest.fixture(scope="module")
async def alone() -> AsyncIterator[Simulator]:
    """The one-province default: Đồng Tháp's NDXP."""
    async with running(SimulatorConfig(port=0, lgsp_url=NOWHERE)) as sim:
        yield sim


@pytest.fixture(scope="module")
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def post(
    http: aiohttp.ClientSession,
    sim: Simulator,
    path: str,
    body: dict[str, Any],
    client: tuple[str, str] = PROVINCE,
) -> tuple[int, Any]:
    bearer = await token(http, sim, client)
    r = await http.post(
        f"{sim.url}{path}", json=body, headers={"Authorization": f"Bearer {bearer}"}
    )
    return r.status, await r.json()


def gialai_resident() -> tuple[str, dict[str, str]]:
    so_dinh_danh = dataset.sample_owner("gialai", 64)
    assert so_dinh_danh is not None
    return so_dinh_danh, {**ASK, "SoDinhDanh": so_dinh_danh}


async def test_a_citizen_is_found_in_whichever_province_they_live(
    http: aiohttp.ClientSession, network: Simulator, alone: Simulator
) -> None:
    so_dinh_danh, ask = gialai_resident()
    citizen = dataset.of(dataset.DatasetConfig(province="gialai")).citizen(so_dinh_danh)
    assert citizen is not None
    # Asked by Đồng Tháp's LGSP, about a resident of Gia Lai.
    status, body = await post(http, network, "/dancu/1.0/TraCuuThongTinCongDan", ask)
    assert (status, body["error_code"]) == (200, "0")
    assert body["data"]["SoDinhDanh"] == so_dinh_danh
    assert body["data"]["ThuongTru"]["MaPhuongXa"] == citizen.noiThuongTru.maXa
    verify = {**ask, "HoVaTen": citizen.hoVaTen, "NgayThangNamSinh": date_out(citizen.ngaySinh)}
    status, body = await post(http, network, "/dancu/1.0/XacThucThongTinCongDan", verify)
    assert (status, body["data"]["KetQuaXacThuc"]) == (200, True)
    # Đồng Tháp's NDXP alone covers Đồng Tháp alone, as ever.
    status, body = await post(http, alone, "/dancu/1.0/TraCuuThongTinCongDan", ask)
    assert (status, body["error_code"]) == (200, "201")


async def statistics(
    http: aiohttp.ClientSession, sim: Simulator, client: tuple[str, str], **more: str
) -> tuple[int, Any]:
    body = {**ASK, "NgayThongKe": "20250701", **more}
    return await post(http, sim, "/dancu/1.0/ThongKeDanSo", body, client)


async def test_statistics_are_of_the_calling_lgsp_s_province(
    http: aiohttp.ClientSession, network: Simulator
) -> None:
    communes = {
        key: {c.code for c in dataset.of(dataset.DatasetConfig(province=key)).home_communes}
        for key in ("dongthap", "gialai")
    }
    for client, own in ((PROVINCE, "dongthap"), (GIALAI, "gialai")):
        status, body = await statistics(http, network, client)
        assert (status, body["error_code"]) == (200, "0")
        assert {cell["MaPhuongXa"] for cell in body["data"]["DanhSach"]} <= communes[own]
    # Another province's commune is none of the caller's.
    other = min(communes["gialai"])
    status, body = await statistics(http, network, PROVINCE, MaPhuongXa=other)
    assert (status, body["error_code"]) == (200, "201")
    status, body = await statistics(http, network, GIALAI, MaPhuongXa=other)
    assert (status, body["error_code"]) == (200, "0")


async def test_statistics_of_a_province_ndxp_does_not_link_are_refused(
    http: aiohttp.ClientSession, network: Simulator
) -> None:
    status, body = await statistics(http, network, PHUTHO)
    assert (status, body["error_code"]) == (403, "106")


async def test_ndop_is_mounted_and_checks_the_tracker_against_the_register(
    http: aiohttp.ClientSession, network: Simulator
) -> None:
    so_dinh_danh, _ = gialai_resident()
    citizen = dataset.of(dataset.DatasetConfig(province="gialai")).citizen(so_dinh_danh)
    assert citizen is not None
    trace = {
        "trace_id": "0f" * 16,
        "request_id": "dongthap-0042",
        "reporter": "gialai",
        "role": "provider",
        "client": "dongthap.onestop",
        "agency": "UBND tỉnh Đồng Tháp",
        "origin": "dongthap",
        "target": "gialai",
        "service": "land.parcel.search",
        "version": 1,
        "purpose": None,
        "subject": so_dinh_danh,
        "status": 200,
        "at": "2025-07-01T09:00:00+07:00",
        "duration_ms": 12.5,
    }
    status, body = await post(http, network, "/ndop/v1/traces", {"traces": [trace]}, GIALAI)
    assert (status, body["error_code"], body["accepted"]) == (200, "0", 1)
    r = await http.post(
        f"{network.url}/ndop/v1/tracker",
        json={"soDinhDanh": so_dinh_danh, "ngaySinh": citizen.ngaySinh.isoformat()},
    )
    assert r.status == 200, await r.text()
    (access,) = (await r.json())["truyCap"]
    assert (access["tinh"], access["dichVu"]) == ("dongthap", "land.parcel.search")

"""The provinces of the demo network: the names and codes agree with the
official list (``vietnam-provinces``) and with the bus's configuration,
each mock system knows what it stands for in each province, and each
province's land database and one-stop-shop are its own."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from vietnam_provinces import Province as OfficialProvince
from vietnam_provinces import ProvinceCode

from lgsp import Envelope, Registry, Reply
from lgsp.config import DEMO_PROVINCES
from lgsp.transport.memory import MemoryTransport
from lgsp_adapters import dataset, dvcqg, land, onestop, warehouse
from lgsp_adapters.ndxp import connector
from lgsp_adapters.provinces import (
    ADAPTERS,
    PROVINCES,
    agency_for,
    province,
    province_of,
)
from lgsp_contracts import CATALOGUE
from lgsp_contracts.land import PARCEL_LOOKUP_V1
from lgsp_contracts.onestop import DEMO_DOSSIERS


def test_the_keys_and_names_are_the_bus_configurations() -> None:
    assert {key: p.name for key, p in PROVINCES.items()} == DEMO_PROVINCES


def test_names_and_codes_are_those_of_the_2025_list() -> None:
    for p in PROVINCES.values():
        assert OfficialProvince.from_code(ProvinceCode(p.code)).name == p.name
    assert {p.key: p.code for p in PROVINCES.values()} == {
        "dongthap": 82,
        "gialai": 52,
        "lamdong": 68,
        "phutho": 25,
    }


def test_each_province_lists_the_2004_codes_of_its_territory_its_own_first() -> None:
    assert {p.key: p.codes_2004 for p in PROVINCES.values()} == {
        "dongthap": (87, 82),
        "gialai": (64, 52),
        "lamdong": (68, 67, 60),
        "phutho": (25, 26, 17),
    }
    owned = [code for p in PROVINCES.values() for code in p.codes_2004]
    assert len(owned) == len(set(owned))  # no 2004 province is in two


def test_indexes_run_from_0_in_key_order() -> None:
    assert [p.index for p in PROVINCES.values()] == list(range(len(PROVINCES)))
    assert next(iter(PROVINCES)) == "dongthap"


def test_agency_codes_are_qcvn_102_and_dong_thap_keeps_h20() -> None:
    assert PROVINCES["dongthap"].agency_code == onestop.AGENCY_CODE == "000.00.00.H20"
    codes = [p.agency_code for p in PROVINCES.values()]
    assert len(set(codes)) == len(codes)
    for p in PROVINCES.values():
        assert p.madonvi == p.agency_code
        assert p.agency_code[:-2] == "000.00.00.H"
        assert p.agency_code[-2:].isdigit()


def test_the_province_comes_from_the_settings_dong_thap_by_default() -> None:
    assert province_of({}).key == "dongthap"
    assert province_of({"LGSP_PROVINCE": ""}).key == "dongthap"
    assert province_of({"LGSP_PROVINCE": "gialai"}) is PROVINCES["gialai"]
    assert province("phutho") is PROVINCES["phutho"]


def test_an_unknown_province_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"dongthap, gialai, lamdong, phutho.*'hanoi'"):
        province_of({"LGSP_PROVINCE": "hanoi"})


def test_in_dong_thap_each_system_is_the_agency_its_module_names() -> None:
    modules = {
        "land": land.adapter,
        "onestop": onestop.adapter,
        "dvcqg": dvcqg.adapter,
        "warehouse": warehouse.adapter,
        "ndxp": connector.adapter,
    }
    assert set(modules) == ADAPTERS
    for name, adapter in modules.items():
        assert agency_for(name, "dongthap") == adapter.agency


def test_elsewhere_the_agency_names_the_province() -> None:
    assert (
        agency_for("land", "gialai")
        == "Sở Nông nghiệp và Môi trường tỉnh Gia Lai — Cơ sở dữ liệu đất đai (mock)"
    )
    assert agency_for("onestop", "phutho").startswith("UBND tỉnh Phú Thọ — ")
    with pytest.raises(ValueError, match="'population'"):
        agency_for("population", "gialai")
    with pytest.raises(ValueError, match="'hanoi'"):
        agency_for("land", "hanoi")


# -- the provinces' land databases and one-stop-shops -------------------------

REGISTRY = Registry([CATALOGUE])
SMALL = {"LGSP_DATASET_CITIZENS": "400"}


async def _call(bus: MemoryTransport, service: str, body: dict[str, Any]) -> Reply:
    return await bus.request(
        Envelope(
            request_id=uuid.uuid4().hex,
            client="test.caller",
            service=service,
            version=1,
            deadline=time.time() + 5,
            body=orjson.dumps(body),
        )
    )


@contextlib.asynccontextmanager
async def _province(key: str) -> AsyncIterator[MemoryTransport]:
    """One province's land database and one-stop-shop (copies of the
    module-level adapters, as a network runs them) on a bus of its own."""
    env = {**SMALL, "LGSP_PROVINCE": key}
    bus = MemoryTransport()
    await bus.start()
    for module in (land, onestop):
        await module.adapter.copy(env=env).start(bus, REGISTRY)
    try:
        yield bus
    finally:
        await bus.close()


async def test_a_provinces_land_database_serves_its_own_land() -> None:
    gialai = dataset.for_env({**SMALL, "LGSP_PROVINCE": "gialai"})
    parcel = next(iter(gialai.parcels()))
    example = PARCEL_LOOKUP_V1.examples[0].request
    async with _province("gialai") as bus:
        reply = await _call(
            bus,
            "land.parcel.lookup",
            {
                "maXa": parcel.maXa,
                "soHieuToBanDo": parcel.soHieuToBanDo,
                "soThuTuThua": parcel.soThuTuThua,
            },
        )
        assert reply.status == 200
        assert orjson.loads(reply.body) == orjson.loads(parcel.model_dump_json())
        # Đồng Tháp's example parcel is not Gia Lai's.
        reply = await _call(bus, "land.parcel.lookup", example)
        assert reply.status == 404
        owner = parcel.chuSuDung[0].soDinhDanh
        reply = await _call(bus, "land.parcel.search", {"soDinhDanh": owner})
        assert orjson.loads(reply.body)["tongSoBanGhi"] == gialai.parcels_of(owner)[0]


async def test_each_one_stop_shop_numbers_its_own_dossiers() -> None:
    before = len(onestop.dossiers)
    submission = {
        "maTTHC": "1.004873",
        "chuHoSo": {"soDinhDanh": "064090250011", "hoVaTen": "Nguyễn Văn An"},
        "ngayTiepNhan": "2025-06-06T09:30:00+07:00",
    }
    async with _province("gialai") as gialai, _province("dongthap") as dongthap:
        reply = await _call(gialai, "onestop.dossier.submit", submission)
        assert reply.status == 200
        assert orjson.loads(reply.body)["maHoSo"] == "000.00.00.H21-250606-0001"
        listed = orjson.loads((await _call(gialai, "onestop.dossier.list", {})).body)
        # Gia Lai's one-stop-shop holds its own dossier only: the demo
        # dossiers are Đồng Tháp's.
        assert [d["maHoSo"] for d in listed["danhSach"]] == ["000.00.00.H21-250606-0001"]
        listed = orjson.loads((await _call(dongthap, "onestop.dossier.list", {})).body)
        assert sorted(d["maHoSo"] for d in listed["danhSach"]) == sorted(
            d["maHoSo"] for d in DEMO_DOSSIERS
        )
        reply = await _call(dongthap, "onestop.dossier.submit", submission)
        assert orjson.loads(reply.body)["maHoSo"] == "000.00.00.H20-250606-0001"
    # The module-level one-stop-shop (one-province mode) saw none of it.
    assert len(onestop.dossiers) == before


def test_a_copys_book_is_its_own_and_the_module_adapter_keeps_the_modules() -> None:
    copy = onestop.adapter.copy(env={"LGSP_PROVINCE": "phutho"})
    assert onestop.book(onestop.adapter) is onestop.dossiers
    assert onestop.book() is onestop.dossiers  # no copy runs here
    assert onestop.book(copy) is onestop.book(copy) is not onestop.dossiers
    assert onestop.book(copy).agency_code == "000.00.00.H44"
    assert len(onestop.book(copy)) == 0

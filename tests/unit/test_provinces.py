"""The provinces of the demo network: the names and codes agree with the
official list (``vietnam-provinces``) and with the bus's configuration, and
each mock system knows what it stands for in each province."""

from __future__ import annotations

import pytest
from vietnam_provinces import Province as OfficialProvince
from vietnam_provinces import ProvinceCode

from lgsp.config import DEMO_PROVINCES
from lgsp_adapters import dvcqg, land, onestop, warehouse
from lgsp_adapters.ndxp import connector
from lgsp_adapters.provinces import (
    ADAPTERS,
    PROVINCES,
    agency_for,
    province,
    province_of,
)


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

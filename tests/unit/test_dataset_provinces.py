"""Every province of the network has its own people and land: residents of
its communes, ids that say where their births were registered (mostly its
own former provinces) and never collide with another province's, the
national register finding anyone wherever they live; and Đồng Tháp's data
is what it was before there were several provinces."""

from __future__ import annotations

import hashlib
import re
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner, Result
from vietnam_provinces import ProvinceCode, Ward

from lgsp.cli import main
from lgsp_adapters import dataset, names
from lgsp_adapters.dataset import AS_OF, Dataset, DatasetConfig, build
from lgsp_adapters.divisions import SUCCESSOR_2025, Divisions, birth_province_2004
from lgsp_adapters.provinces import PROVINCES
from lgsp_contracts.land import PARCEL_LOOKUP_V1
from lgsp_contracts.population import CITIZEN_LOOKUP_V1, CongDan
from tests.unit.test_dataset import _fake_legacy_list

OTHERS = ("gialai", "lamdong", "phutho")
SIZE = 2_000


@pytest.fixture(scope="module")
def datasets() -> dict[str, Dataset]:
    """The four provinces' datasets, built with one seed."""
    return {key: build(DatasetConfig(citizens=SIZE, province=key)) for key in PROVINCES}


def _generated(data: Dataset) -> Iterator[CongDan]:
    pinned = {e.response["soDinhDanh"] for e in CITIZEN_LOOKUP_V1.examples}
    return (c for c in data.citizens() if c.soDinhDanh not in pinned)


def _digest(data: Dataset) -> str:
    h = hashlib.sha256()
    for records in (data.citizens(), data.parcels(), data.households(), data.certificates()):
        for record in records:
            h.update(record.__pydantic_serializer__.to_json(record))
            h.update(b"\n")
    return h.hexdigest()


def test_dong_thap_is_byte_for_byte_what_it_was_with_one_province() -> None:
    # Computed before the provinces existed (seed 7, 1,500 citizens).
    assert (
        _digest(build(DatasetConfig(seed=7, citizens=1_500)))
        == "c9ccfe4850209ab78b4fffe0c958ae85d2027230debfb656a52dbe707ae06149"
    )


@pytest.mark.parametrize("key", list(PROVINCES))
def test_each_commune_was_in_one_of_the_provinces_2004_provinces(key: str) -> None:
    province = PROVINCES[key]
    home = Divisions(province=key).home
    official = {f"{int(w.code):05d}" for w in Ward.iter_by_province(ProvinceCode(province.code))}
    assert {c.code for c in home} == official
    assert {c.birth_province for c in home} == set(province.codes_2004)


@pytest.mark.parametrize(
    ("province", "commune", "former"),
    [
        (82, "Phường Mỹ Tho", 82),
        (82, "Phường Cao Lãnh", 87),
        (52, "Phường Quy Nhơn", 52),
        (52, "Phường Pleiku", 64),
        (68, "Phường Phan Thiết", 60),
        (68, "Phường Bắc Gia Nghĩa", 67),
        (68, "Phường Xuân Hương - Đà Lạt", 68),
        (68, "Xã Quảng Tín", 67),  # the last of Đắk Nông's
        (25, "Phường Hòa Bình", 17),
        (25, "Phường Việt Trì", 25),
        (25, "Xã Tu Vũ", 25),  # the last of Phú Thọ's
        (25, "Phường Vĩnh Yên", 26),
    ],
)
def test_a_communes_code_says_its_former_province(province: int, commune: str, former: int) -> None:
    (ward,) = (w for w in Ward.iter_by_province(ProvinceCode(province)) if w.name == commune)
    assert birth_province_2004(province, int(ward.code)) == former


@pytest.mark.parametrize("key", OTHERS)
def test_ids_agree_with_birth_province_century_gender_and_year(
    datasets: dict[str, Dataset], key: str
) -> None:
    for c in datasets[key].citizens():
        digits = c.soDinhDanh
        assert re.fullmatch(r"[0-9]{12}", digits)
        assert int(digits[:3]) in SUCCESSOR_2025, digits
        century_gender = int(digits[3])
        century = 1900 + 100 * (century_gender // 2)
        assert century <= c.ngaySinh.year < century + 100, digits
        assert digits[4:6] == f"{c.ngaySinh.year % 100:02d}", digits
        assert (century_gender % 2 == 1) == (c.gioiTinh == "Nữ"), digits
        assert c.ngaySinh < AS_OF


@pytest.mark.parametrize("key", OTHERS)
def test_residents_live_in_the_provinces_communes_mostly_born_there(
    datasets: dict[str, Dataset], key: str
) -> None:
    province = PROVINCES[key]
    official = {f"{int(w.code):05d}" for w in Ward.iter_by_province(ProvinceCode(province.code))}
    citizens = list(datasets[key].citizens())
    assert len(citizens) == SIZE
    for c in citizens:
        for address in (c.noiThuongTru, c.noiOHienTai):
            assert address.maTinh == f"{province.code:02d}"
            assert address.tenTinh == province.name
            assert address.maXa in official
        born = int(c.soDinhDanh[:3])
        if c.soDinhDanhCha is None:
            assert c.queQuan.maTinh == f"{SUCCESSOR_2025[born]:02d}", c.soDinhDanh
        if born in province.codes_2004 and c.soDinhDanhCha is None:
            # A home town in the former province itself.
            assert birth_province_2004(province.code, int(c.queQuan.maXa)) == born
    births = Counter(int(c.soDinhDanh[:3]) for c in citizens)
    assert sum(births[code] for code in province.codes_2004) > 0.85 * len(citizens)
    assert all(births[code] > 0.1 * len(citizens) for code in province.codes_2004)


def test_addresses_use_the_provinces_words(datasets: dict[str, Dataset]) -> None:
    details = {
        key: {p.diaChi.chiTiet.split()[0] for p in data.parcels() if p.diaChi.chiTiet}
        for key, data in datasets.items()
    }
    assert {"Ấp", "Khóm", "Số"} <= details["dongthap"]
    assert details["gialai"] == details["lamdong"] == {"Thôn", "Số", "Tổ"}
    assert details["phutho"] == {"Khu", "Số", "Tổ"}


def test_ids_are_unique_across_the_provinces_built_with_one_seed(
    datasets: dict[str, Dataset],
) -> None:
    ids = [c.soDinhDanh for data in datasets.values() for c in data.citizens()]
    assert len(ids) == len(set(ids)) == len(PROVINCES) * SIZE
    # Not a copy of one another either: each province draws its own people.
    first = {key: next(_generated(data)) for key, data in datasets.items()}
    assert len({(c.hoVaTen, c.ngaySinh) for c in first.values()}) == len(PROVINCES)


def test_the_contracts_examples_are_dong_thaps_only(datasets: dict[str, Dataset]) -> None:
    example = CITIZEN_LOOKUP_V1.examples[0].response["soDinhDanh"]
    parcel = PARCEL_LOOKUP_V1.examples[0].request
    assert datasets["dongthap"].citizen(example) is not None
    for key in OTHERS:
        assert datasets[key].citizen(example) is None
        assert datasets[key].parcel(parcel["maXa"], parcel["soHieuToBanDo"], 1) is None


def test_the_province_comes_from_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("LGSP_PROVINCE", "LGSP_DATASET_SEED", "LGSP_DATASET_CITIZENS"):
        monkeypatch.delenv(name, raising=False)
    assert DatasetConfig.from_env().province == "dongthap"
    env = {"LGSP_PROVINCE": "lamdong", "LGSP_DATASET_CITIZENS": "500"}
    assert DatasetConfig.from_env(env) == DatasetConfig(citizens=500, province="lamdong")
    with pytest.raises(ValueError, match=r"LGSP_PROVINCE.*'hanoi'"):
        DatasetConfig.from_env({"LGSP_PROVINCE": "hanoi"})
    with pytest.raises(ValueError, match="'hanoi'"):
        DatasetConfig(province="hanoi")


def test_one_dataset_is_built_and_shared_per_config() -> None:
    env = {"LGSP_PROVINCE": "phutho", "LGSP_DATASET_CITIZENS": "300"}
    data = dataset.for_env(env)
    assert data.config == DatasetConfig(citizens=300, province="phutho")
    assert dataset.for_env(dict(env)) is data
    assert dataset.of(DatasetConfig(citizens=300, province="phutho")) is data
    assert dataset.for_env({**env, "LGSP_PROVINCE": "gialai"}) is not data


async def test_the_national_register_finds_a_citizen_wherever_they_live() -> None:
    env = {"LGSP_DATASET_CITIZENS": "400"}
    register = await dataset.national(PROVINCES, env)
    assert register.provinces == tuple(PROVINCES)
    gialai = register.dataset("gialai")
    resident = next(c for c in gialai.citizens() if c.soDinhDanh.startswith(("064", "052")))
    assert register.citizen(resident.soDinhDanh) == resident
    assert register.province_of(resident.soDinhDanh) == "gialai"
    example = CITIZEN_LOOKUP_V1.examples[0].response["soDinhDanh"]
    assert register.province_of(example) == "dongthap"
    assert register.citizen("064000000000") is None
    assert register.province_of("not an id") is None
    commune = resident.noiThuongTru.maXa
    assert register.province_of_commune(commune) == "gialai"
    assert register.commune(commune) == gialai.commune(commune)
    assert register.commune("99999") is None
    counts = register.residents_by_age(AS_OF)
    assert sum(cell.residents for cell in counts) == register.citizen_count == 4 * 400
    assert [c.commune.code for c in counts] == sorted(c.commune.code for c in counts)


def test_land_users_walk_the_owners_in_id_order(datasets: dict[str, Dataset]) -> None:
    for data in datasets.values():
        held = Counter(o.soDinhDanh for p in data.parcels() for o in p.chuSuDung)
        assert list(data.land_users()) == sorted(held.items())
        assert list(data.land_users("064")) == sorted(
            (k, n) for k, n in held.items() if k.startswith("064")
        )
    assert list(datasets["gialai"].land_users("x")) == []


def test_a_gialai_born_owner_of_land_in_gialai(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("LGSP_PROVINCE", "LGSP_DATASET_SEED", "LGSP_DATASET_CITIZENS"):
        monkeypatch.delenv(name, raising=False)
    so_dinh_danh = dataset.sample_owner("gialai", 64)
    assert so_dinh_danh is not None
    assert so_dinh_danh.startswith("064")
    data = dataset.of(DatasetConfig(province="gialai"))
    citizen = data.citizen(so_dinh_danh)
    assert citizen is not None
    assert citizen.noiThuongTru.tenTinh == "Gia Lai"
    held, parcels = data.parcels_of(so_dinh_danh)
    assert held >= 2
    assert all(p.diaChi.maTinh == "52" for p in parcels)
    # The first such citizen in id order.
    owners = Counter(o.soDinhDanh for p in data.parcels() for o in p.chuSuDung)
    assert so_dinh_danh == min(k for k, n in owners.items() if k.startswith("064") and n >= 2)
    assert dataset.sample_owner("gialai", 64, min_parcels=10_000) is None


def test_the_legacy_scheme_holds_the_former_provinces(monkeypatch: pytest.MonkeyPatch) -> None:
    # The stand-in list holds the provinces of names.BIRTH_PROVINCES: here
    # those Gia Lai's residents are born in.
    monkeypatch.setattr(names, "BIRTH_PROVINCES", names.VOCABULARIES["gialai"].birth_provinces)
    fake = _fake_legacy_list()
    monkeypatch.setitem(sys.modules, "vietnam_provinces.legacy", fake)
    data = build(DatasetConfig(citizens=300, scheme="legacy", province="gialai"))
    assert {c.noiThuongTru.maTinh for c in data.citizens()} == {"52", "64"}
    for c in data.citizens():
        if c.soDinhDanhCha is None:
            assert int(c.queQuan.maTinh) == int(c.soDinhDanh[:3])


# -- lgsp dataset --province ------------------------------------------------------


def _lgsp(*args: str, env: dict[str, str | None] | None = None) -> Result:
    return CliRunner(env=env).invoke(main, ["--log-level", "warning", *args])


def test_the_export_is_of_the_province_asked_for(tmp_path: Path) -> None:
    small = ["--citizens", "150", "--seed", "7", "--format", "json"]
    result = _lgsp("dataset", "export", "--out", str(tmp_path), "--province", "gialai", *small)
    assert result.exit_code == 0, result.output
    assert "Dataset of Gia Lai, seed 7, 150 citizens" in result.output
    citizens = orjson.loads((tmp_path / "citizens.json").read_bytes())
    assert len(citizens) == 150
    assert {c["noiThuongTru"]["tenTinh"] for c in citizens} == {"Gia Lai"}
    assert orjson.loads((tmp_path / "dossiers.json").read_bytes()) == []
    # LGSP_PROVINCE is the default, as for the bus.
    env: dict[str, str | None] = {"LGSP_PROVINCE": "phutho"}
    result = _lgsp("dataset", "stats", "--citizens", "150", env=env)
    assert result.exit_code == 0, result.output
    assert "Dataset of Phú Thọ" in result.output
    assert _lgsp("dataset", "stats", "--province", "hanoi").exit_code == 2
    bad = _lgsp("dataset", "stats", env={"LGSP_PROVINCE": "hanoi"})
    assert bad.exit_code == 2
    assert "LGSP_PROVINCE" in bad.output

"""The synthetic dataset follows the Vietnamese rules of DOMAIN.md."""

from __future__ import annotations

import enum
import importlib.util
import re
import sys
import types
from collections import Counter
from dataclasses import dataclass
from datetime import date

import orjson
import pytest
from vietnam_provinces import ProvinceCode, Ward, WardCode

from lgsp_adapters.dataset import AS_OF, Dataset, DatasetConfig, build
from lgsp_adapters.divisions import SUCCESSOR_2025, Divisions
from lgsp_contracts.land import (
    CERTIFICATE_LOOKUP_V1,
    PARCEL_LOOKUP_V1,
    PARCEL_SEARCH_V1,
    ThuaDat,
)
from lgsp_contracts.population import CITIZEN_LOOKUP_V1, CongDan

HAS_LEGACY_LIST = importlib.util.find_spec("vietnam_provinces.legacy") is not None
# The official 2025 list, straight from the package (not through our code).
DONG_THAP_2025 = {f"{int(w.code):05d}": w.name for w in Ward.iter_by_province(ProvinceCode.P_82)}


@pytest.fixture(scope="module")
def data() -> Dataset:
    return build(DatasetConfig())


@pytest.fixture(scope="module")
def citizens(data: Dataset) -> list[CongDan]:
    return list(data.citizens())


@pytest.fixture(scope="module")
def by_id(citizens: list[CongDan]) -> dict[str, CongDan]:
    return {c.soDinhDanh: c for c in citizens}


@pytest.fixture(scope="module")
def parcels(data: Dataset) -> list[ThuaDat]:
    return list(data.parcels())


def test_default_size(data: Dataset, citizens: list[CongDan], parcels: list[ThuaDat]) -> None:
    assert data.citizen_count == len(citizens) == 10_000
    assert data.parcel_count == len(parcels)
    assert len(parcels) > 5_000


def test_personal_ids_are_unique(citizens: list[CongDan], by_id: dict[str, CongDan]) -> None:
    assert len(by_id) == len(citizens)


def test_personal_ids_agree_with_birth_province_date_and_gender(citizens: list[CongDan]) -> None:
    for c in citizens:
        digits = c.soDinhDanh
        assert re.fullmatch(r"[0-9]{12}", digits)
        assert int(digits[:3]) in SUCCESSOR_2025, digits  # a 2004 province code
        century_gender = int(digits[3])
        assert century_gender in (0, 1, 2, 3), digits
        century = 1900 + 100 * (century_gender // 2)
        assert century <= c.ngaySinh.year < century + 100, (digits, c.ngaySinh)
        assert digits[4:6] == f"{c.ngaySinh.year % 100:02d}", (digits, c.ngaySinh)
        assert (century_gender % 2 == 1) == (c.gioiTinh == "Nữ"), (digits, c.gioiTinh)
        assert c.ngaySinh < AS_OF


def test_home_towns_agree_with_birth_province(
    citizens: list[CongDan], by_id: dict[str, CongDan]
) -> None:
    for c in citizens:
        if c.soDinhDanhCha is not None:
            # Quê quán follows the father's.
            assert c.queQuan == by_id[c.soDinhDanhCha].queQuan
            continue
        birth_province = int(c.soDinhDanh[:3])
        assert c.queQuan.maTinh == f"{SUCCESSOR_2025[birth_province]:02d}", c.soDinhDanh
        if birth_province == 82:  # Tiền Giang's communes were numbered first
            assert int(c.queQuan.maXa) < 29000
        elif birth_province == 87:
            assert int(c.queQuan.maXa) >= 29000


def test_families_are_consistent(citizens: list[CongDan], by_id: dict[str, CongDan]) -> None:
    married = children = 0
    for c in citizens:
        if c.soDinhDanhVoChong is not None:
            married += 1
            spouse = by_id[c.soDinhDanhVoChong]
            assert spouse.soDinhDanhVoChong == c.soDinhDanh
            assert spouse.gioiTinh != c.gioiTinh
        for parent_id, sex in ((c.soDinhDanhCha, "Nam"), (c.soDinhDanhMe, "Nữ")):
            if parent_id is None:
                continue
            children += 1
            parent = by_id[parent_id]
            assert parent.gioiTinh == sex
            assert (c.ngaySinh - parent.ngaySinh).days > 15 * 365
            assert parent.noiThuongTru == c.noiThuongTru
        if c.soDinhDanhCha is not None:
            assert c.hoVaTen.split()[0] == by_id[c.soDinhDanhCha].hoVaTen.split()[0]
    assert married > len(citizens) * 0.4
    assert children > len(citizens) * 0.3


def test_surnames_in_realistic_proportions(citizens: list[CongDan]) -> None:
    surnames = Counter(c.hoVaTen.split()[0] for c in citizens)
    share = {name: 100 * n / len(citizens) for name, n in surnames.items()}
    # DOMAIN.md: Nguyễn ≈ 38%, Trần ≈ 11%, Lê ≈ 9.5%, Phạm ≈ 7%, Hoàng/Huỳnh ≈ 5%.
    assert share["Nguyễn"] == pytest.approx(38, abs=3)
    assert share["Trần"] == pytest.approx(11, abs=2)
    assert share["Lê"] == pytest.approx(9.5, abs=2)
    assert share["Phạm"] == pytest.approx(7, abs=2)
    assert share["Hoàng"] + share["Huỳnh"] == pytest.approx(5, abs=1.5)
    assert {"Phan", "Võ", "Đặng", "Bùi", "Đỗ", "Hồ", "Ngô", "Dương", "Lý"} <= set(surnames)


def test_names_have_diacritics_and_gendered_middle_names(citizens: list[CongDan]) -> None:
    for c in citizens:
        parts = c.hoVaTen.split()
        assert len(parts) >= 3
        if parts[1] == "Văn":
            assert c.gioiTinh == "Nam", c.hoVaTen
        if parts[1] == "Thị":
            assert c.gioiTinh == "Nữ", c.hoVaTen
    with_marks = sum(not c.hoVaTen.isascii() for c in citizens)
    assert with_marks > 0.9 * len(citizens)


def test_addresses_are_real_dong_thap_units_of_2025(
    citizens: list[CongDan], parcels: list[ThuaDat]
) -> None:
    addresses = [a for c in citizens for a in (c.noiThuongTru, c.noiOHienTai)]
    addresses += [p.diaChi for p in parcels]
    for a in addresses:
        assert (a.maTinh, a.tenTinh) == ("82", "Đồng Tháp")
        assert DONG_THAP_2025[a.maXa] == a.tenXa
        assert a.chiTiet
    assert len({a.maXa for a in addresses}) > 0.9 * len(DONG_THAP_2025)
    for p in parcels:
        assert (p.maXa, p.tenXa) == (p.diaChi.maXa, p.diaChi.tenXa)


def test_home_towns_are_real_communes_of_2025(citizens: list[CongDan]) -> None:
    for c in citizens:
        ward = Ward.from_code(WardCode(int(c.queQuan.maXa)))
        assert ward.name == c.queQuan.tenXa
        assert f"{int(ward.province_code):02d}" == c.queQuan.maTinh
        assert c.queQuan.chiTiet is None
    outside = {c.queQuan.maTinh for c in citizens} - {"82"}
    assert outside  # some people come from elsewhere


def test_parcels_are_unique_per_commune(parcels: list[ThuaDat]) -> None:
    keys = Counter((p.maXa, p.soHieuToBanDo, p.soThuTuThua) for p in parcels)
    assert max(keys.values()) == 1
    certificates = Counter(p.giayChungNhan.soPhatHanh for p in parcels)
    assert max(certificates.values()) == 1


def test_parcels_are_consistent(parcels: list[ThuaDat], by_id: dict[str, CongDan]) -> None:
    for p in parcels:
        assert round(p.dienTich, 1) == p.dienTich
        assert round(sum(u.dienTich for u in p.mucDichSuDung), 1) == p.dienTichPhapLy
        assert abs(p.dienTich - p.dienTichPhapLy) <= 0.03 * p.dienTichPhapLy
        residential = {u.kyHieu for u in p.mucDichSuDung} & {"ODT", "ONT"}
        if residential:
            assert p.thoiHanSuDung == "Lâu dài"
        else:
            assert isinstance(p.thoiHanSuDung, date)
            assert p.thoiHanSuDung > p.giayChungNhan.ngayCap
        for owner in p.chuSuDung:
            citizen = by_id[owner.soDinhDanh]
            assert citizen.hoVaTen == owner.hoVaTen
            assert (p.giayChungNhan.ngayCap - citizen.ngaySinh).days >= 18 * 365
        assert p.giayChungNhan.ngayCap < AS_OF
    uses = Counter(u.kyHieu for p in parcels for u in p.mucDichSuDung)
    assert set(uses) == {"ODT", "ONT", "LUC", "CLN", "NTS", "BHK"}
    assert 0.05 < sum(p.tinhTrangThueChap == "Đang thế chấp" for p in parcels) / len(parcels) < 0.2


def test_lookups_find_every_record(
    data: Dataset, citizens: list[CongDan], parcels: list[ThuaDat]
) -> None:
    for c in citizens[::37]:
        assert data.citizen(c.soDinhDanh) == c
    for p in parcels[::23]:
        assert data.parcel(p.maXa, p.soHieuToBanDo, p.soThuTuThua) == p
    assert data.citizen("087090001235") is None
    assert data.citizen("not-an-id") is None
    assert data.parcel("29869", 9999, 9999) is None
    assert data.parcel("99999", 1, 1) is None


def test_every_parcel_is_found_under_each_of_its_land_users(
    data: Dataset, parcels: list[ThuaDat]
) -> None:
    held: dict[str, list[ThuaDat]] = {}
    for p in parcels:
        for owner in p.chuSuDung:
            held.setdefault(owner.soDinhDanh, []).append(p)

    def key(p: ThuaDat) -> tuple[str, int, int]:
        return p.maXa, p.soHieuToBanDo, p.soThuTuThua

    for user, theirs in list(held.items())[::7]:
        total, found = data.parcels_of(user)
        assert total == len(found) == len(theirs)
        assert found == sorted(theirs, key=key)
        assert data.parcels_of(user, offset=1, limit=1) == (total, found[1:2])
    landless = [c.soDinhDanh for c in data.citizens() if c.soDinhDanh not in held]
    assert landless
    for someone in [*landless[:50], "087090001235", "not-an-id"]:
        assert data.parcels_of(someone) == (0, [])


def test_every_certificate_leads_to_its_parcel(data: Dataset, parcels: list[ThuaDat]) -> None:
    certificates = list(data.certificates())
    assert len(certificates) == data.certificate_count == len(parcels)
    for p in parcels[::11]:
        certificate = data.certificate(p.giayChungNhan.soPhatHanh)
        assert certificate is not None
        assert certificate.thuaDat == [p]
        assert certificate.chuSuDung == p.chuSuDung
        assert (certificate.soVaoSo, certificate.ngayCap) == (
            p.giayChungNhan.soVaoSo,
            p.giayChungNhan.ngayCap,
        )
    for unknown in ("DA 999999", "DA 000001", "ZZ 123456", "DA12345", ""):
        assert data.certificate(unknown) is None


def test_households_hold_every_citizen_once(
    data: Dataset, citizens: list[CongDan], by_id: dict[str, CongDan]
) -> None:
    households = list(data.households())
    assert len(households) == data.household_count
    members = [m.soDinhDanh for h in households for m in h.thanhVien]
    assert sorted(members) == sorted(by_id)
    for h in households:
        head, *others = h.thanhVien
        assert head.quanHeVoiChuHo == "Chủ hộ"
        assert (head.soDinhDanh, head.hoVaTen) == (h.chuHo.soDinhDanh, h.chuHo.hoVaTen)
        chief = by_id[head.soDinhDanh]
        assert chief.noiThuongTru == h.noiThuongTru
        for m in others:
            person = by_id[m.soDinhDanh]
            assert person.hoVaTen == m.hoVaTen
            assert person.noiThuongTru == h.noiThuongTru
            match m.quanHeVoiChuHo:
                case "Vợ" | "Chồng":
                    assert chief.soDinhDanhVoChong == person.soDinhDanh
                    assert (m.quanHeVoiChuHo == "Vợ") == (person.gioiTinh == "Nữ")
                case "Con":
                    parents = {person.soDinhDanhCha, person.soDinhDanhMe}
                    assert chief.soDinhDanh in parents
                case other:
                    pytest.fail(f"unexpected relation {other}")
    sizes = Counter(len(h.thanhVien) for h in households)
    assert all(sizes[n] for n in (1, 2, 3, 4)), sizes
    # The pinned family (the contracts' examples) is one household.
    assert [(m.hoVaTen, m.quanHeVoiChuHo) for m in households[0].thanhVien] == [
        ("Nguyễn Văn Hùng", "Chủ hộ"),
        ("Lê Thị Hồng", "Vợ"),
        ("Nguyễn Minh Khang", "Con"),
    ]


def test_the_contract_examples_are_in_the_data(data: Dataset) -> None:
    for example in CITIZEN_LOOKUP_V1.examples:
        citizen = data.citizen(example.request["soDinhDanh"])
        assert citizen is not None
        assert orjson.loads(citizen.model_dump_json()) == example.response
    for example in PARCEL_LOOKUP_V1.examples:
        r = example.request
        parcel = data.parcel(r["maXa"], r["soHieuToBanDo"], r["soThuTuThua"])
        assert parcel is not None
        assert orjson.loads(parcel.model_dump_json()) == example.response
    for example in PARCEL_SEARCH_V1.examples:
        r = example.request
        size = r.get("soBanGhiMoiTrang", 20)
        total, page = data.parcels_of(
            r["soDinhDanh"], offset=(r.get("trang", 1) - 1) * size, limit=size
        )
        assert total == example.response["tongSoBanGhi"]
        assert [orjson.loads(p.model_dump_json()) for p in page] == example.response["danhSach"]
    for example in CERTIFICATE_LOOKUP_V1.examples:
        certificate = data.certificate(example.request["soPhatHanh"])
        assert certificate is not None
        assert orjson.loads(certificate.model_dump_json()) == example.response


def test_the_same_seed_gives_the_same_data() -> None:
    config = DatasetConfig(seed=7, citizens=1_500)
    a, b = build(config), build(config)
    assert list(a.citizens()) == list(b.citizens())
    assert list(a.parcels()) == list(b.parcels())
    assert list(a.households()) == list(b.households())
    other = build(DatasetConfig(seed=8, citizens=1_500))
    assert list(other.citizens()) != list(a.citizens())


def test_config_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert DatasetConfig.from_env() == DatasetConfig()
    monkeypatch.setenv("LGSP_DATASET_CITIZENS", "1000000")
    monkeypatch.setenv("LGSP_DATASET_SEED", "42")
    monkeypatch.setenv("LGSP_DATASET_SCHEME", "legacy")
    assert DatasetConfig.from_env() == DatasetConfig(seed=42, citizens=1_000_000, scheme="legacy")
    monkeypatch.setenv("LGSP_DATASET_SCHEME", "2034")
    with pytest.raises(ValueError, match="LGSP_DATASET_SCHEME"):
        DatasetConfig.from_env()


def _fake_legacy_list() -> types.ModuleType:
    """A stand-in for ``vietnam_provinces.legacy`` (2026.2+): the same API,
    one district and two wards per province."""
    from lgsp_adapters import names

    @dataclass(frozen=True)
    class Unit:
        code: int
        name: str
        province_code: int = 0
        district_code: int = 0
        division_type: enum.Enum | None = None

    kind = enum.Enum("Kind", {"XA": "xã", "PHUONG": "phường"})
    provinces = {p: Unit(p, f"Tỉnh {p:02d}") for p, _ in names.BIRTH_PROVINCES}
    districts = [Unit(p * 10, f"Huyện {p}", province_code=p) for p in provinces]
    wards = [
        Unit(
            p * 100 + i,
            f"Xã {p}-{i}",
            district_code=p * 10,
            division_type=kind.XA if i else kind.PHUONG,
        )
        for p in provinces
        for i in range(2)
    ]
    module = types.ModuleType("vietnam_provinces.legacy")
    vars(module).update(
        ProvinceCode=int,
        Province=types.SimpleNamespace(from_code=provinces.__getitem__),
        District=types.SimpleNamespace(iter_all=lambda: iter(districts)),
        Ward=types.SimpleNamespace(iter_all=lambda: iter(wards)),
    )
    return module


def test_the_legacy_scheme_uses_the_pre_2025_units(monkeypatch: pytest.MonkeyPatch) -> None:
    if not HAS_LEGACY_LIST:
        monkeypatch.setitem(sys.modules, "vietnam_provinces.legacy", _fake_legacy_list())
    data = build(DatasetConfig(citizens=600, scheme="legacy"))
    pinned = {e.response["soDinhDanh"] for e in CITIZEN_LOOKUP_V1.examples}
    generated = [c for c in data.citizens() if c.soDinhDanh not in pinned]
    assert {c.noiThuongTru.maTinh for c in generated} == {"82", "87"}
    for c in generated:
        if c.soDinhDanhCha is None:
            # Before 2025 the home town is in the birth province itself.
            assert int(c.queQuan.maTinh) == int(c.soDinhDanh[:3])


@pytest.mark.skipif(HAS_LEGACY_LIST, reason="the installed package has the legacy list")
def test_the_legacy_scheme_says_what_it_needs() -> None:
    with pytest.raises(RuntimeError, match=r"vietnam-provinces 2026\.2"):
        Divisions("legacy")


# -- what the warehouse pulls: parcels in key order, residents by age -----------


def key(parcel: ThuaDat) -> tuple[str, int, int]:
    return parcel.maXa, parcel.soHieuToBanDo, parcel.soThuTuThua


@pytest.mark.parametrize(("commune", "limit"), [(None, 997), ("29869", 13), ("30037", 1)])
def test_parcel_pages_walk_every_parcel_once_in_key_order(
    data: Dataset, parcels: list[ThuaDat], commune: str | None, limit: int
) -> None:
    wanted = sorted((p for p in parcels if commune in (None, p.maXa)), key=key)
    walked: list[ThuaDat] = []
    after = None
    while True:
        page, more = data.parcel_page(ma_xa=commune, after=after, limit=limit)
        walked += page
        if not more:
            break
        assert len(page) == limit
        after = key(page[-1])
    assert walked == wanted
    assert data.parcel_page(ma_xa=commune, after=key(wanted[-1]), limit=limit) == ([], False)


def age_group(born: date, day: date) -> int:
    """The five-year group of someone born on ``born``, on ``day`` (a plain
    reading of 'age in whole years', to check the dataset's count by)."""
    age = day.year - born.year - ((day.month, day.day) < (born.month, born.day))
    return min(age // 5, 16)


def test_age_groups_at_their_boundaries() -> None:
    assert age_group(date(2020, 7, 1), date(2025, 7, 1)) == 1  # 5 today: 05-09
    assert age_group(date(2020, 7, 2), date(2025, 7, 1)) == 0
    assert age_group(date(1945, 7, 1), date(2025, 7, 1)) == 16  # 80: 80+
    assert age_group(date(1945, 7, 2), date(2025, 7, 1)) == 15
    # Born on 29 February: a year older on 1 March in a common year.
    assert age_group(date(2020, 2, 29), date(2025, 2, 28)) == 0
    assert age_group(date(2020, 2, 29), date(2025, 3, 1)) == 1


KHANG = CITIZEN_LOOKUP_V1.examples[2].response  # a boy born on 12 March 2018


@pytest.mark.parametrize(
    "day",
    [
        AS_OF,
        date(2023, 3, 12),  # Khang's 5th birthday: in 05-09 that day
        date(2023, 3, 11),  # the day before: still 00-04
        date(2028, 2, 29),
        date(2027, 2, 28),
        date(2040, 1, 1),
    ],
)
def test_residents_by_age_count_every_resident_in_their_cell(
    data: Dataset, citizens: list[CongDan], day: date
) -> None:
    wanted: Counter[tuple[str, int, bool]] = Counter(
        (c.noiThuongTru.maXa, age_group(c.ngaySinh, day), c.gioiTinh == "Nữ")
        for c in citizens
        if c.ngaySinh <= day
    )
    counts = data.residents_by_age(day)
    assert {(c.commune.code, c.age_group, c.female): c.residents for c in counts} == wanted
    assert all(c.residents > 0 for c in counts)
    order = [(c.commune.code, c.age_group, c.female) for c in counts]
    assert order == sorted(order)
    assert data.residents_by_age(day) is counts  # counted once per day
    if day == date(2023, 3, 12):
        assert wanted[(KHANG["noiThuongTru"]["maXa"], 1, False)] >= 1
        assert age_group(date.fromisoformat(KHANG["ngaySinh"]), day) == 1


def test_residents_by_age_sum_to_the_residents_of_each_commune(
    data: Dataset, citizens: list[CongDan]
) -> None:
    residents = Counter(c.noiThuongTru.maXa for c in citizens)
    counted: Counter[str] = Counter()
    for cell in data.residents_by_age(AS_OF):
        counted[cell.commune.code] += cell.residents
    assert counted == residents
    assert sum(counted.values()) == data.citizen_count
    assert all(data.commune(code) is not None for code in counted)
    assert data.commune("99999") is None
    # Before anyone was born, nobody lives anywhere.
    assert data.residents_by_age(date(1900, 1, 1)) == ()

"""The demo province's synthetic people and land, deterministic from a seed.

Citizens come in households (a couple, their children) living at real
communes of Đồng Tháp; their personal ids agree with their birth province,
century, gender and birth year; households hold land parcels with unique
(commune, sheet, parcel) numbers. The records the contracts' examples show
are pinned in as they are, so every example is real.

Records are kept column-wise in ``array`` columns of small integers and
turned into contract models only when looked up: about 50 bytes per citizen
and per parcel (plus about 30 per parcel for the indexes by land user and
by certificate), and generation linear in the number of citizens, so a
million citizens stay feasible. Lookups are binary searches over sorted
keys.

The data is as of 1 July 2025 (nobody is born after it). ``demo()`` builds
the dataset once per process from the environment:
``LGSP_DATASET_CITIZENS`` (default 10000), ``LGSP_DATASET_SEED`` and
``LGSP_DATASET_SCHEME`` (``2025`` or ``legacy``).
"""

from __future__ import annotations

import asyncio
import bisect
import datetime as dt
import itertools
import os
import random
import threading
import time
from array import array
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Final, Literal, get_args

import orjson
import structlog
from pydantic import Field

from lgsp_adapters import names
from lgsp_adapters.divisions import Commune, Divisions, Scheme
from lgsp_contracts.fields import CaNhan, DiaChi
from lgsp_contracts.land import (
    PARCEL_LOOKUP_V1,
    GiayChungNhan,
    GiayChungNhanQuyenSuDungDat,
    MucDichSuDung,
    ThuaDat,
)
from lgsp_contracts.population import CITIZEN_LOOKUP_V1, CongDan
from lgsp_contracts.spec import Contract

log = structlog.get_logger("lgsp_adapters.dataset")

AS_OF: Final = dt.date(2025, 7, 1)
_AS_OF = AS_OF.toordinal()
_NONE: Final = -1

# Land uses (codes as in the contract) and their areas in tenths of m²:
# (code, smallest, largest); farm uses are drawn with a weight,
# (code, weight, smallest, largest).
_RESIDENTIAL_URBAN: Final = ("ODT", 400, 2_500)
_RESIDENTIAL_RURAL: Final = ("ONT", 1_000, 5_000)
_FARMING: Final = (
    ("LUC", 45.0, 10_000, 120_000),
    ("CLN", 25.0, 5_000, 60_000),
    ("NTS", 12.0, 8_000, 80_000),
    ("BHK", 18.0, 3_000, 30_000),
)
USE_CODES: Final = ("ODT", "ONT", "LUC", "CLN", "NTS", "BHK")
_NO_USE: Final = 255
# Farm land allocated before the 2013 Land Law took effect had its term
# extended to 15 Oct 2063 (50 years from the end of the 1993 allocations,
# Land Law 2013 Art. 126(1) and 210(1)).
_FARM_TERM_END: Final = dt.date(2063, 10, 15)
_LAW_2013: Final = dt.date(2014, 7, 1)
_FIRST_ISSUE: Final = dt.date(2005, 1, 1).toordinal()
# Certificates: issue-number series by era (illustrative: B.. before 2015,
# C.. to 2019, D.. since), and register book entries, "CH" before Circular
# 23/2014/TT-BTNMT took effect, "CS" after.
_SERIES: Final = tuple(f"{era}{letter}" for era in "BCD" for letter in "ABCDEGHKLMNPQRSTUVXY")
_BOOK_CS_FROM: Final = dt.date(2014, 7, 5)
_FIRST_GENERATED_CERTIFICATE: Final = 200_000
_FIRST_GENERATED_BOOK_ENTRY: Final = 2_000


@dataclass(frozen=True)
class DatasetConfig:
    """What a dataset is built from; the same config gives the same data."""

    seed: int = 20250701
    citizens: int = 10_000
    """Citizens in all, the contracts' pinned ones included."""
    scheme: Scheme = "2025"

    @classmethod
    def from_env(cls) -> DatasetConfig:
        scheme = os.environ.get("LGSP_DATASET_SCHEME", "2025")
        if scheme not in get_args(Scheme):
            raise ValueError(
                f"LGSP_DATASET_SCHEME must be one of {get_args(Scheme)}, not {scheme!r}"
            )
        return cls(
            seed=int(os.environ.get("LGSP_DATASET_SEED", cls.seed)),
            citizens=int(os.environ.get("LGSP_DATASET_CITIZENS", cls.citizens)),
            scheme="legacy" if scheme == "legacy" else "2025",
        )


class _Citizens:
    """Citizen columns; row i is one citizen."""

    def __init__(self) -> None:
        self.ids = array("q")
        self.surname = array("B")
        self.middle = array("B")
        self.given = array("B")
        self.born = array("i")
        self.ethnic = array("B")
        self.religion = array("B")
        self.home = array("H")
        self.home_detail = array("I")
        self.here = array("H")
        self.here_detail = array("I")
        self.origin = array("H")
        self.father = array("i")
        self.mother = array("i")
        self.spouse = array("i")
        self.heads = array("i")
        """The first row of each household (its head); its members follow."""


class _Parcels:
    """Parcel columns; row i is one parcel. Areas are in tenths of m²."""

    def __init__(self) -> None:
        self.commune = array("H")
        self.sheet = array("H")
        self.number = array("H")
        self.detail = array("I")
        self.area = array("I")
        self.legal_area = array("I")
        self.use = array("B")
        self.use_area = array("I")
        self.second_use = array("B")
        self.owner = array("i")
        self.co_owner = array("i")
        self.series = array("B")
        self.serial = array("I")
        self.book = array("I")
        self.issued = array("i")
        self.term_end = array("i")
        """0 for an indefinite term."""
        self.origin = array("B")
        self.mortgaged = array("B")


def _parcel_key(commune: str, sheet: int, number: int) -> int:
    return int(commune) * 100_000_000 + sheet * 10_000 + number


def _certificate_key(so_phat_hanh: str) -> int | None:
    """``DA 123456`` as one integer, if it is of a series the generator uses."""
    series, _, serial = so_phat_hanh.partition(" ")
    if series not in _SERIES or len(serial) != 6 or not serial.isdigit():
        return None
    return _SERIES.index(series) * 1_000_000 + int(serial)


QuanHeVoiChuHo = Literal["Chủ hộ", "Vợ", "Chồng", "Con"]
CHU_HO: Final = "Chủ hộ"


class ThanhVienHo(CaNhan):
    """A member of a household (thành viên hộ) and how they relate to its head."""

    quanHeVoiChuHo: QuanHeVoiChuHo = Field(
        description="Relation to the head of household (quan hệ với chủ hộ)."
    )


class HoGiaDinh(Contract):
    """A household (hộ gia đình): the people registered at one permanent
    residence, the head first. Not served on the bus (households belong to
    the population database); the dataset export writes them."""

    chuHo: CaNhan = Field(description="The head of household (chủ hộ).")
    noiThuongTru: DiaChi = Field(description="The household's permanent residence.")
    thanhVien: list[ThanhVienHo] = Field(description="Every member, the head first.")


class Dataset:
    """The built data: look citizens and parcels up, or walk through them."""

    def __init__(
        self,
        config: DatasetConfig,
        communes: Sequence[Commune],
        citizens: _Citizens,
        parcels: _Parcels,
        pinned_citizens: dict[str, CongDan],
        pinned_parcels: dict[int, ThuaDat],
    ) -> None:
        self.config = config
        self._communes = tuple(communes)
        self._c = citizens
        self._p = parcels
        self._pinned_citizens = pinned_citizens
        self._pinned_parcels = pinned_parcels
        order = sorted(range(len(citizens.ids)), key=citizens.ids.__getitem__)
        self._citizen_keys = array("q", (citizens.ids[i] for i in order))
        self._citizen_rows = array("i", order)
        keys = [
            _parcel_key(self._communes[c].code, s, n)
            for c, s, n in zip(parcels.commune, parcels.sheet, parcels.number, strict=True)
        ]
        order = sorted(range(len(keys)), key=keys.__getitem__)
        self._parcel_keys = array("q", (keys[i] for i in order))
        self._parcel_rows = array("i", order)
        # By land user: (owner's id, parcel row) pairs, from the rows in
        # parcel order, so a stable sort by id keeps each user's parcels in
        # parcel order.
        owners, owned = array("q"), array("i")
        for row in self._parcel_rows:
            for person in (parcels.owner[row], parcels.co_owner[row]):
                if person != _NONE:
                    owners.append(citizens.ids[person])
                    owned.append(row)
        order = sorted(range(len(owners)), key=owners.__getitem__)
        self._owner_keys = array("q", (owners[i] for i in order))
        self._owner_rows = array("i", (owned[i] for i in order))
        certificates = [
            series * 1_000_000 + serial
            for series, serial in zip(parcels.series, parcels.serial, strict=True)
        ]
        order = sorted(range(len(certificates)), key=certificates.__getitem__)
        self._certificate_keys = array("q", (certificates[i] for i in order))
        self._certificate_rows = array("i", order)
        self._pinned_by_owner: dict[str, list[ThuaDat]] = {}
        self._pinned_by_certificate: dict[str, list[ThuaDat]] = {}
        for key in sorted(pinned_parcels):
            parcel = pinned_parcels[key]
            for owner in parcel.chuSuDung:
                self._pinned_by_owner.setdefault(owner.soDinhDanh, []).append(parcel)
            serial = parcel.giayChungNhan.soPhatHanh
            self._pinned_by_certificate.setdefault(serial, []).append(parcel)

    @property
    def citizen_count(self) -> int:
        return len(self._c.ids) + len(self._pinned_citizens)

    @property
    def parcel_count(self) -> int:
        return len(self._p.commune) + len(self._pinned_parcels)

    @property
    def household_count(self) -> int:
        return len(self._c.heads) + sum(1 for _ in _households_of(self._pinned_citizens.values()))

    @property
    def certificate_count(self) -> int:
        return len(self._p.commune) + len(self._pinned_by_certificate)

    # -- lookups ----------------------------------------------------------

    def citizen(self, so_dinh_danh: str) -> CongDan | None:
        """The citizen with this personal id, if any."""
        pinned = self._pinned_citizens.get(so_dinh_danh)
        if pinned is not None:
            return pinned
        if len(so_dinh_danh) != 12 or not so_dinh_danh.isdigit():
            return None
        row = _find(self._citizen_keys, self._citizen_rows, int(so_dinh_danh))
        return None if row is None else self._citizen(row)

    def parcel(self, ma_xa: str, so_hieu_to_ban_do: int, so_thu_tu_thua: int) -> ThuaDat | None:
        """The parcel with this commune, map sheet and number, if any."""
        if len(ma_xa) != 5 or not ma_xa.isdigit():
            return None
        key = _parcel_key(ma_xa, so_hieu_to_ban_do, so_thu_tu_thua)
        pinned = self._pinned_parcels.get(key)
        if pinned is not None:
            return pinned
        row = _find(self._parcel_keys, self._parcel_rows, key)
        return None if row is None else self._parcel(row)

    def parcels_of(
        self, so_dinh_danh: str, *, offset: int = 0, limit: int | None = None
    ) -> tuple[int, list[ThuaDat]]:
        """How many parcels a land user holds (alone or with others), and
        those from ``offset`` on (at most ``limit``), ordered by commune,
        map sheet and parcel number."""
        pinned = self._pinned_by_owner.get(so_dinh_danh, [])
        low = high = 0
        if len(so_dinh_danh) == 12 and so_dinh_danh.isdigit():
            key = int(so_dinh_danh)
            low = bisect.bisect_left(self._owner_keys, key)
            high = bisect.bisect_right(self._owner_keys, key)
        found: list[tuple[int, ThuaDat | int]] = [
            (_parcel_key(t.maXa, t.soHieuToBanDo, t.soThuTuThua), t) for t in pinned
        ]
        found += [(self._key_of(row), row) for row in self._owner_rows[low:high]]
        found.sort(key=lambda item: item[0])
        end = len(found) if limit is None else offset + limit
        page = [
            self._parcel(item) if isinstance(item, int) else item for _, item in found[offset:end]
        ]
        return len(found), page

    def certificate(self, so_phat_hanh: str) -> GiayChungNhanQuyenSuDungDat | None:
        """The certificate with this issue number, with its land users and
        the parcels it covers, if any."""
        parcels = list(self._pinned_by_certificate.get(so_phat_hanh, []))
        key = _certificate_key(so_phat_hanh)
        if key is not None:
            low = bisect.bisect_left(self._certificate_keys, key)
            high = bisect.bisect_right(self._certificate_keys, key)
            parcels += [self._parcel(row) for row in self._certificate_rows[low:high]]
        return _certificate_of(parcels) if parcels else None

    def certificates(self) -> Iterator[GiayChungNhanQuyenSuDungDat]:
        """Every certificate, the pinned ones first."""
        for parcels in self._pinned_by_certificate.values():
            yield _certificate_of(parcels)
        for row in range(len(self._p.commune)):
            # One parcel per generated certificate.
            yield _certificate_of([self._parcel(row)])

    def households(self) -> Iterator[HoGiaDinh]:
        """Every household, the pinned one(s) first. A generated household's
        members follow its head in the rows (spouse, then children)."""
        yield from _households_of(self._pinned_citizens.values())
        c = self._c
        ends = itertools.chain(c.heads[1:], (len(c.ids),))
        for head, end in zip(c.heads, ends, strict=True):
            members = [
                ThanhVienHo(
                    soDinhDanh=f"{c.ids[row]:012d}",
                    hoVaTen=self._name(row),
                    quanHeVoiChuHo=self._relation(head, row),
                )
                for row in range(head, end)
            ]
            yield self._household(head, members)

    def _relation(self, head: int, row: int) -> QuanHeVoiChuHo:
        if row == head:
            return CHU_HO
        if self._c.spouse[head] == row:
            return "Vợ" if _female(self._c.ids[row]) else "Chồng"
        return "Con"

    def _household(self, head: int, members: list[ThanhVienHo]) -> HoGiaDinh:
        return HoGiaDinh(
            chuHo=self._person(head),
            noiThuongTru=self._address(self._c.home[head], self._c.home_detail[head]),
            thanhVien=members,
        )

    def _key_of(self, row: int) -> int:
        p = self._p
        return _parcel_key(self._communes[p.commune[row]].code, p.sheet[row], p.number[row])

    def citizens(self) -> Iterator[CongDan]:
        """Every citizen, the pinned ones first."""
        yield from self._pinned_citizens.values()
        for row in range(len(self._c.ids)):
            yield self._citizen(row)

    def parcels(self) -> Iterator[ThuaDat]:
        """Every parcel, the pinned ones first."""
        yield from self._pinned_parcels.values()
        for row in range(len(self._p.commune)):
            yield self._parcel(row)

    # -- records ----------------------------------------------------------

    def _citizen(self, row: int) -> CongDan:
        c = self._c
        return CongDan(
            soDinhDanh=f"{c.ids[row]:012d}",
            hoVaTen=self._name(row),
            ngaySinh=dt.date.fromordinal(c.born[row]),
            gioiTinh="Nữ" if _female(c.ids[row]) else "Nam",
            danToc=names.ETHNIC_GROUPS[c.ethnic[row]][0],
            tonGiao=names.RELIGIONS[c.religion[row]][0],
            quocTich="Việt Nam",
            queQuan=self._address(c.origin[row], None),
            noiThuongTru=self._address(c.home[row], c.home_detail[row]),
            noiOHienTai=self._address(c.here[row], c.here_detail[row]),
            soDinhDanhCha=self._id(c.father[row]),
            soDinhDanhMe=self._id(c.mother[row]),
            soDinhDanhVoChong=self._id(c.spouse[row]),
        )

    def _parcel(self, row: int) -> ThuaDat:
        p = self._p
        commune = self._communes[p.commune[row]]
        uses = [MucDichSuDung(kyHieu=USE_CODES[p.use[row]], dienTich=p.use_area[row] / 10)]
        if p.second_use[row] != _NO_USE:
            rest = p.legal_area[row] - p.use_area[row]
            uses.append(MucDichSuDung(kyHieu=USE_CODES[p.second_use[row]], dienTich=rest / 10))
        owners = [self._person(p.owner[row])]
        if p.co_owner[row] != _NONE:
            owners.append(self._person(p.co_owner[row]))
        issued = dt.date.fromordinal(p.issued[row])
        return ThuaDat(
            maXa=commune.code,
            tenXa=commune.name,
            soHieuToBanDo=p.sheet[row],
            soThuTuThua=p.number[row],
            diaChi=self._address(p.commune[row], p.detail[row]),
            dienTich=p.area[row] / 10,
            dienTichPhapLy=p.legal_area[row] / 10,
            mucDichSuDung=uses,
            thoiHanSuDung=dt.date.fromordinal(p.term_end[row]) if p.term_end[row] else "Lâu dài",
            nguonGocSuDung=(names.FARM_ORIGINS if p.term_end[row] else names.RESIDENTIAL_ORIGINS)[
                p.origin[row]
            ],
            chuSuDung=owners,
            giayChungNhan=GiayChungNhan(
                soPhatHanh=f"{_SERIES[p.series[row]]} {p.serial[row]:06d}",
                soVaoSo=f"{'CS' if issued >= _BOOK_CS_FROM else 'CH'}{p.book[row]:05d}",
                ngayCap=issued,
            ),
            tinhTrangThueChap="Đang thế chấp" if p.mortgaged[row] else "Không thế chấp",
        )

    def _id(self, row: int) -> str | None:
        return None if row == _NONE else f"{self._c.ids[row]:012d}"

    def _name(self, row: int) -> str:
        c = self._c
        female = _female(c.ids[row])
        middle = names.FEMALE_MIDDLE if female else names.MALE_MIDDLE
        given = names.FEMALE_GIVEN if female else names.MALE_GIVEN
        return (
            f"{names.SURNAMES[c.surname[row]][0]} {middle[c.middle[row]][0]} {given[c.given[row]]}"
        )

    def _person(self, row: int) -> CaNhan:
        return CaNhan(soDinhDanh=f"{self._c.ids[row]:012d}", hoVaTen=self._name(row))

    def _address(self, commune_index: int, detail: int | None) -> DiaChi:
        commune = self._communes[commune_index]
        return DiaChi(
            chiTiet=None if detail is None else address_detail(commune, detail),
            maXa=commune.code,
            tenXa=commune.name,
            maTinh=commune.province_code,
            tenTinh=commune.province_name,
        )


def _female(personal_id: int) -> bool:
    """Digit 4 of a personal id is odd for women."""
    return (personal_id // 100_000_000) % 2 == 1


def _certificate_of(parcels: Sequence[ThuaDat]) -> GiayChungNhanQuyenSuDungDat:
    issued = parcels[0].giayChungNhan
    owners = list({o.soDinhDanh: o for p in parcels for o in p.chuSuDung}.values())
    return GiayChungNhanQuyenSuDungDat(
        soPhatHanh=issued.soPhatHanh,
        soVaoSo=issued.soVaoSo,
        ngayCap=issued.ngayCap,
        chuSuDung=owners,
        thuaDat=list(parcels),
    )


def _households_of(citizens: Iterable[CongDan]) -> Iterator[HoGiaDinh]:
    """Households of a few citizens given as records (the pinned ones): a
    citizen joins the household of a parent or spouse already met, else
    heads a new one."""
    heads: dict[str, CongDan] = {}
    members: dict[str, list[ThanhVienHo]] = {}
    head_of: dict[str, str] = {}
    relation: QuanHeVoiChuHo
    for c in citizens:
        parent = next(
            (p for p in (c.soDinhDanhCha, c.soDinhDanhMe) if p is not None and p in head_of), None
        )
        if parent is not None:
            head, relation = head_of[parent], "Con"
        elif c.soDinhDanhVoChong is not None and c.soDinhDanhVoChong in head_of:
            head, relation = head_of[c.soDinhDanhVoChong], "Vợ" if c.gioiTinh == "Nữ" else "Chồng"
        else:
            head, relation = c.soDinhDanh, CHU_HO
            heads[head], members[head] = c, []
        head_of[c.soDinhDanh] = head
        members[head].append(
            ThanhVienHo(soDinhDanh=c.soDinhDanh, hoVaTen=c.hoVaTen, quanHeVoiChuHo=relation)
        )
    for head, c in heads.items():
        yield HoGiaDinh(
            chuHo=CaNhan(soDinhDanh=c.soDinhDanh, hoVaTen=c.hoVaTen),
            noiThuongTru=c.noiThuongTru,
            thanhVien=members[head],
        )


def _find(keys: array[int], rows: array[int], key: int) -> int | None:
    at = bisect.bisect_left(keys, key)
    if at < len(keys) and keys[at] == key:
        return rows[at]
    return None


# Address details are packed in one integer: kind * 10**6 + a * 1000 + b.
_HAMLET, _STREET, _QUARTER = 0, 1, 2


def address_detail(commune: Commune, packed: int) -> str:
    """The details line of an address packed by the generator."""
    kind, rest = divmod(packed, 1_000_000)
    a, b = divmod(rest, 1000)
    if kind == _STREET:
        return f"Số {b} đường {names.STREETS[a]}"
    if kind == _QUARTER:
        # Đồng Tháp's wards are divided in "khóm", Tiền Giang's in "khu phố".
        return f"{'Khóm' if commune.birth_province == 87 else 'Khu phố'} {a}"
    return f"Ấp {names.HAMLETS[a]}"


class _Picker:
    """Weighted draws from cumulative weights, with ``random()`` only (its
    sequence is stable across Python versions, unlike ``choices``' helpers)."""

    def __init__(self, rng: random.Random, weights: Sequence[float]) -> None:
        self._rng = rng
        self._cumulative = list(itertools.accumulate(weights))

    def __call__(self) -> int:
        return bisect.bisect_right(self._cumulative, self._rng.random() * self._cumulative[-1])


class _Builder:
    def __init__(self, config: DatasetConfig) -> None:
        self.config = config
        self.rng = random.Random(config.seed)
        self.divisions = Divisions(config.scheme)
        self.communes: list[Commune] = list(self.divisions.home)
        self._commune_index = {c.code: i for i, c in enumerate(self.communes)}
        self.c = _Citizens()
        self.p = _Parcels()
        self.pinned_citizens = {
            c.soDinhDanh: c
            for c in (
                CongDan.model_validate_json(orjson.dumps(e.response))
                for e in CITIZEN_LOOKUP_V1.examples
            )
        }
        self.pinned_parcels = {
            _parcel_key(t.maXa, t.soHieuToBanDo, t.soThuTuThua): t
            for t in (
                ThuaDat.model_validate_json(orjson.dumps(e.response))
                for e in PARCEL_LOOKUP_V1.examples
            )
        }
        self._pinned_ids = {int(k) for k in self.pinned_citizens}
        r = self.rng
        self.pick_surname = _Picker(r, [w for _, w in names.SURNAMES])
        self.pick_middle = {
            (female, young): _Picker(r, [after if young else before for _, before, after in table])
            for female, table in ((False, names.MALE_MIDDLE), (True, names.FEMALE_MIDDLE))
            for young in (False, True)
        }
        self.pick_ethnic = _Picker(r, [w for _, w in names.ETHNIC_GROUPS])
        self.pick_religion = _Picker(r, [w for _, w in names.RELIGIONS])
        self.pick_birth_province = _Picker(r, [w for _, w in names.BIRTH_PROVINCES])
        self.pick_children = _Picker(r, [15, 30, 33, 16, 6])
        self.pick_farm = _Picker(r, [w for _, w, _, _ in _FARMING])
        self._serials: dict[int, int] = {}
        self._sheets: dict[int, list[int]] = {}
        self._certificates: dict[int, int] = {}
        self._books: dict[int, int] = {}

    # -- small draws ------------------------------------------------------

    def below(self, n: int) -> int:
        return int(self.rng.random() * n)

    def between(self, low: int, high: int) -> int:
        """An integer in [low, high]."""
        return low + int(self.rng.random() * (high - low + 1))

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    # -- citizens ---------------------------------------------------------

    def build(self) -> Dataset:
        target = self.config.citizens - len(self.pinned_citizens)
        while len(self.c.ids) < target:
            self.household(target - len(self.c.ids))
        return Dataset(
            self.config,
            self.communes,
            self.c,
            self.p,
            self.pinned_citizens,
            self.pinned_parcels,
        )

    def household(self, room: int) -> None:
        home = self.below(len(self.divisions.home))
        detail = self.home_detail(self.communes[home])
        head_age = 20 + int(70 * self.rng.random() ** 1.5)
        head_female = self.chance(0.15)
        head = self.person(head_female, head_age, None, home, detail)
        self.c.heads.append(head)
        spouse = _NONE
        if room > 1 and self.chance(0.8):
            spouse_age = max(
                18, head_age + (self.between(-3, 5) if head_female else self.between(-8, 2))
            )
            spouse = self.person(not head_female, spouse_age, None, home, detail)
            self.c.spouse[head], self.c.spouse[spouse] = spouse, head
            father, mother = (spouse, head) if head_female else (head, spouse)
            youngest_parent = min(head_age, spouse_age)
            for _ in range(min(self.pick_children(), room - 2)):
                age = youngest_parent - self.between(19, 40)
                if age >= 0:
                    child = self.person(self.chance(0.49), age, (father, mother), home, detail)
                    self.c.surname[child] = self.c.surname[father]
                    self.c.ethnic[child] = self.c.ethnic[father]
                    self.c.origin[child] = self.c.origin[father]
                    parent = father if self.chance(0.8) else mother
                    self.c.religion[child] = self.c.religion[parent]
        self.land(home, detail, head, spouse)

    def person(
        self,
        female: bool,
        age: int,
        parents: tuple[int, int] | None,
        home: int,
        detail: int,
    ) -> int:
        c = self.c
        born = _AS_OF - 1 - int((age + self.rng.random()) * 365.2425)
        year = dt.date.fromordinal(born).year
        # A child's birth was registered where the family lives.
        birth_province = (
            self.communes[home].birth_province
            if parents is not None
            else names.BIRTH_PROVINCES[self.pick_birth_province()][0]
        )
        young = year >= 2000
        c.ids.append(self.personal_id(birth_province, year, female))
        c.surname.append(self.pick_surname())
        c.middle.append(self.pick_middle[(female, young)]())
        c.given.append(self.below(len(names.FEMALE_GIVEN if female else names.MALE_GIVEN)))
        c.born.append(born)
        c.ethnic.append(self.pick_ethnic())
        c.religion.append(self.pick_religion())
        c.home.append(home)
        c.home_detail.append(detail)
        if self.chance(0.92):
            c.here.append(home)
            c.here_detail.append(detail)
        else:
            elsewhere = self.below(len(self.divisions.home))
            c.here.append(elsewhere)
            c.here_detail.append(self.home_detail(self.communes[elsewhere]))
        origins = self.divisions.origin_communes(birth_province)
        c.origin.append(self.commune_index(origins[self.below(len(origins))]))
        c.father.append(parents[0] if parents else _NONE)
        c.mother.append(parents[1] if parents else _NONE)
        c.spouse.append(_NONE)
        return len(c.ids) - 1

    def personal_id(self, birth_province: int, year: int, female: bool) -> int:
        """A fresh id whose digits say birth province, century and gender,
        and birth year (Circular 59/2021/TT-BCA); serials rise by random
        steps, so ids are unique and not guessable in order."""
        century_gender = 2 * ((year - 1900) // 100) + int(female)
        prefix = (birth_province * 10 + century_gender) * 100 + year % 100
        serial = self._serials.get(prefix, 0)
        while True:
            serial += self.between(1, 40)
            number = prefix * 1_000_000 + serial
            if number not in self._pinned_ids:
                break
        if serial > 999_999:
            raise ValueError(f"too many citizens for personal id prefix {prefix:06d}")
        self._serials[prefix] = serial
        return number

    def commune_index(self, commune: Commune) -> int:
        index = self._commune_index.get(commune.code)
        if index is None:
            index = len(self.communes)
            self.communes.append(commune)
            self._commune_index[commune.code] = index
        return index

    def home_detail(self, commune: Commune) -> int:
        if commune.urban:
            return (_STREET * 1000 + self.below(len(names.STREETS))) * 1000 + self.between(1, 399)
        return (_HAMLET * 1000 + self.below(len(names.HAMLETS))) * 1000

    def field_detail(self, commune: Commune) -> int:
        if commune.urban:
            return (_QUARTER * 1000 + self.between(1, 12)) * 1000
        return (_HAMLET * 1000 + self.below(len(names.HAMLETS))) * 1000

    # -- land -------------------------------------------------------------

    def land(self, home: int, detail: int, head: int, spouse: int) -> None:
        commune = self.communes[home]
        if self.chance(0.85):
            code, low, high = _RESIDENTIAL_URBAN if commune.urban else _RESIDENTIAL_RURAL
            self.parcel(home, detail, head, spouse, code, self.between(low, high), farm=False)
        for _ in range(self.below(2) if commune.urban else self.below(4)):
            code, _, low, high = _FARMING[self.pick_farm()]
            self.parcel(
                home,
                self.field_detail(commune),
                head,
                spouse,
                code,
                self.between(low, high),
                farm=True,
            )

    def parcel(
        self, commune: int, detail: int, head: int, spouse: int, use: str, area: int, *, farm: bool
    ) -> None:
        p = self.p
        sheet, number = self.next_parcel_number(commune)
        p.commune.append(commune)
        p.sheet.append(sheet)
        p.number.append(number)
        p.detail.append(detail)
        p.legal_area.append(area)
        surveyed = (
            area if self.chance(0.85) else max(1, area + self.between(-area // 40, area // 40))
        )
        p.area.append(surveyed)
        p.use.append(USE_CODES.index(use))
        if farm and use == "CLN" and self.chance(0.2):
            # A garden with a fish pond.
            part = self.between(area // 5, area // 2)
            p.use_area.append(area - part)
            p.second_use.append(USE_CODES.index("NTS"))
        else:
            p.use_area.append(area)
            p.second_use.append(_NO_USE)
        # The certificate is issued to adults: a spouse too young to be on
        # it is left off.
        co_owner = spouse if spouse != _NONE and self.chance(0.6) else _NONE
        first = max(self.adult_on(head), _FIRST_ISSUE)
        if co_owner != _NONE:
            first = max(first, self.adult_on(co_owner))
            if first >= _AS_OF - 1:
                co_owner, first = _NONE, max(self.adult_on(head), _FIRST_ISSUE)
        p.owner.append(head)
        p.co_owner.append(co_owner)
        issued = self.between(first, _AS_OF - 1)
        p.issued.append(issued)
        issued_on = dt.date.fromordinal(issued)
        era = 0 if issued_on.year < 2015 else 1 if issued_on.year < 2020 else 2
        series = era * 20 + self.below(20)
        p.series.append(series)
        serial = self._certificates.get(series, _FIRST_GENERATED_CERTIFICATE) + self.between(1, 5)
        self._certificates[series] = serial
        p.serial.append(serial)
        book = self._books.get(commune, _FIRST_GENERATED_BOOK_ENTRY) + self.between(1, 3)
        self._books[commune] = book
        p.book.append(book)
        if farm:
            p.term_end.append(_farm_term_end(issued_on).toordinal())
            p.origin.append(self.below(len(names.FARM_ORIGINS)))
        else:
            p.term_end.append(0)
            p.origin.append(self.below(len(names.RESIDENTIAL_ORIGINS)))
        p.mortgaged.append(int(self.chance(0.12)))

    def adult_on(self, row: int) -> int:
        """The day a citizen turns 18 (ordinal)."""
        return self.c.born[row] + int(18 * 365.2425) + 1

    def next_parcel_number(self, commune: int) -> tuple[int, int]:
        """The next free (sheet, parcel) of a commune: parcels are numbered
        along a sheet with gaps, then the next sheet."""
        state = self._sheets.get(commune)
        if state is None:
            state = self._sheets[commune] = [self.between(1, 5), 0]
        code = self.communes[commune].code
        while True:
            state[1] += self.between(1, 6)
            if state[1] > 400:
                state[0] += self.between(1, 2)
                state[1] = self.between(1, 10)
            if _parcel_key(code, state[0], state[1]) not in self.pinned_parcels:
                return state[0], state[1]


def _farm_term_end(issued: dt.date) -> dt.date:
    """When the use right of farm land certified on this day ends: 15 Oct
    2063 for land allocated before the 2013 Land Law, else 50 years."""
    if issued < _LAW_2013:
        return _FARM_TERM_END
    try:
        return issued.replace(year=issued.year + 50)
    except ValueError:  # 29 February
        return issued.replace(year=issued.year + 50, day=28)


def build(config: DatasetConfig | None = None) -> Dataset:
    """Build a dataset (seconds for a million citizens; use ``demo()`` to
    share one)."""
    config = config or DatasetConfig()
    started = time.perf_counter()
    dataset = _Builder(config).build()
    log.info(
        "dataset.built",
        citizens=dataset.citizen_count,
        parcels=dataset.parcel_count,
        seed=config.seed,
        scheme=config.scheme,
        seconds=round(time.perf_counter() - started, 3),
    )
    return dataset


class _Demo:
    """The process's shared dataset, built once on first use."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._dataset: Dataset | None = None

    def get(self) -> Dataset:
        dataset = self._dataset
        if dataset is None:
            with self._lock:
                if self._dataset is None:
                    self._dataset = build(DatasetConfig.from_env())
                dataset = self._dataset
        return dataset

    async def aget(self) -> Dataset:
        # Building takes a while: off the event loop.
        if self._dataset is not None:
            return self._dataset
        return await asyncio.to_thread(self.get)


_demo = _Demo()
demo = _demo.get
"""The shared demo dataset (built on first call, from the environment)."""
ademo = _demo.aget
"""``demo()`` for coroutines: the first build runs in a worker thread."""

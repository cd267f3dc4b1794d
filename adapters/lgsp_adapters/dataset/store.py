"""The built dataset: binary-search indexes over the columns, and the
contract models (citizens, parcels, certificates, households) made from a
row only when it is looked up or walked through."""

from __future__ import annotations

import bisect
import datetime as dt
import itertools
import threading
from array import array
from collections.abc import Iterator, Sequence
from typing import Final, NamedTuple

from lgsp_adapters import names
from lgsp_adapters.dataset.columns import (
    _BOOK_CS_FROM,
    _NO_USE,
    _NONE,
    _SERIES,
    USE_CODES,
    _certificate_key,
    _Citizens,
    _parcel_key,
    _Parcels,
    address_detail,
)
from lgsp_adapters.dataset.config import DatasetConfig
from lgsp_adapters.dataset.households import (
    CHU_HO,
    HoGiaDinh,
    QuanHeVoiChuHo,
    ThanhVienHo,
    _households_of,
)
from lgsp_adapters.divisions import Commune
from lgsp_contracts.fields import CaNhan, DiaChi
from lgsp_contracts.land import GiayChungNhan, GiayChungNhanQuyenSuDungDat, MucDichSuDung, ThuaDat
from lgsp_contracts.population import CongDan


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
        *,
        home: int,
    ) -> None:
        """``communes`` are the province's (the first ``home``, by code),
        then the home towns of people born elsewhere."""
        self.config = config
        self._words = names.VOCABULARIES[config.province]
        self._communes = tuple(communes)
        self._home = home
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
        # Snapshot order merges the generated keys above with these.
        self._pinned_keys = sorted(pinned_parcels)
        self._commune_of = {commune.code: i for i, commune in enumerate(self._communes)}
        self._age_counts: dict[dt.date, tuple[ResidentCount, ...]] = {}
        self._age_counts_lock = threading.Lock()
        self._pinned_by_owner: dict[str, list[ThuaDat]] = {}
        self._pinned_by_certificate: dict[str, list[ThuaDat]] = {}
        for key in sorted(pinned_parcels):
            parcel = pinned_parcels[key]
            for owner in parcel.chuSuDung:
                self._pinned_by_owner.setdefault(owner.soDinhDanh, []).append(parcel)
            serial = parcel.giayChungNhan.soPhatHanh
            self._pinned_by_certificate.setdefault(serial, []).append(parcel)

    def __getstate__(self) -> dict[str, object]:
        # Built in another process and sent back: the lock and the cache
        # of counts stay behind (a lock does not cross processes).
        state = dict(self.__dict__)
        state["_age_counts"] = {}
        del state["_age_counts_lock"]
        return state

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)
        self._age_counts_lock = threading.Lock()

    @property
    def home_communes(self) -> tuple[Commune, ...]:
        """The province's communes, ordered by code."""
        return self._communes[: self._home]

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

    def commune(self, ma_xa: str) -> Commune | None:
        """The province's commune with this code, if it is one."""
        index = self._commune_of.get(ma_xa)
        return None if index is None else self._communes[index]

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

    def land_users(self, id_prefix: str = "") -> Iterator[tuple[str, int]]:
        """The land users whose personal id starts with ``id_prefix`` (all
        if empty), in id order, each with how many parcels they hold (alone
        or with others). Two binary searches, then a walk over the index."""
        if (id_prefix and not id_prefix.isdigit()) or len(id_prefix) > 12:
            return
        low = int(id_prefix.ljust(12, "0"))
        high = int(id_prefix.ljust(12, "9"))
        keys = self._owner_keys
        at, end = bisect.bisect_left(keys, low), bisect.bisect_right(keys, high)
        pinned = sorted(
            (owner, len(held))
            for owner, held in self._pinned_by_owner.items()
            if owner.startswith(id_prefix)
        )
        # The pinned owners are few: merged in as the walk passes them.
        p = 0
        while at < end:
            key = keys[at]
            run_end = bisect.bisect_right(keys, key, at, end)
            so_dinh_danh = f"{key:012d}"
            while p < len(pinned) and pinned[p][0] < so_dinh_danh:
                yield pinned[p]
                p += 1
            held = run_end - at
            if p < len(pinned) and pinned[p][0] == so_dinh_danh:
                held += pinned[p][1]
                p += 1
            yield so_dinh_danh, held
            at = run_end
        yield from pinned[p:]

    def parcel_page(
        self,
        *,
        ma_xa: str | None = None,
        after: tuple[str, int, int] | None = None,
        limit: int,
    ) -> tuple[list[ThuaDat], bool]:
        """At most ``limit`` parcels in key order (commune, map sheet,
        parcel number), of one commune if ``ma_xa`` is given, after the
        parcel key ``after`` if given; and whether more follow. Two binary
        searches and the page itself: no scan, however many parcels."""
        if ma_xa is not None and (len(ma_xa) != 5 or not ma_xa.isdigit()):
            return [], False
        start = 0 if ma_xa is None else _parcel_key(ma_xa, 0, 0)
        stop = _NO_KEY if ma_xa is None else _parcel_key(ma_xa, 0, 0) + _COMMUNE_SPAN
        if after is not None:
            start = max(start, _parcel_key(*after) + 1)
        keys, pinned = self._parcel_keys, self._pinned_keys
        g, g_end = bisect.bisect_left(keys, start), bisect.bisect_left(keys, stop)
        p, p_end = bisect.bisect_left(pinned, start), bisect.bisect_left(pinned, stop)
        page: list[ThuaDat] = []
        while len(page) < limit and (g < g_end or p < p_end):
            if p < p_end and (g == g_end or pinned[p] < keys[g]):
                page.append(self._pinned_parcels[pinned[p]])
                p += 1
            else:
                page.append(self._parcel(self._parcel_rows[g]))
                g += 1
        return page, g < g_end or p < p_end

    def residents_by_age(self, day: dt.date) -> tuple[ResidentCount, ...]:
        """How many citizens live in each commune (of permanent residence)
        on ``day``, by five-year age group (0 for 0-4 ... 16 for 80 and
        over; age in whole years on ``day``) and gender: every non-empty
        cell, ordered by commune code, age group, men first. Nobody born
        after ``day`` is counted. Counted from the columns once per day (a
        few dozen days are kept), so repeated questions are free."""
        with self._age_counts_lock:
            cached = self._age_counts.get(day)
            if cached is None:
                cached = self._count_by_age(day)
                if len(self._age_counts) >= _AGE_COUNT_DAYS:
                    del self._age_counts[next(iter(self._age_counts))]
                self._age_counts[day] = cached
            return cached

    def _count_by_age(self, day: dt.date) -> tuple[ResidentCount, ...]:
        # Born on or before thresholds[k] is being at least 5 * (16 - k)
        # years old on the day (ascending, oldest first).
        thresholds = [_years_before(day, 5 * n) for n in range(AGE_GROUPS - 1, 0, -1)]
        last = AGE_GROUPS - 1
        today = day.toordinal()
        cells = [0] * (len(self._communes) * AGE_GROUPS * 2)
        c = self._c
        for home, born, personal_id in zip(c.home, c.born, c.ids, strict=True):
            if born <= today:
                group = last - bisect.bisect_left(thresholds, born)
                cells[(home * AGE_GROUPS + group) * 2 + _female(personal_id)] += 1
        for citizen in self._pinned_citizens.values():
            born = citizen.ngaySinh.toordinal()
            if born <= today:
                group = last - bisect.bisect_left(thresholds, born)
                home = self._commune_of[citizen.noiThuongTru.maXa]
                cells[(home * AGE_GROUPS + group) * 2 + (citizen.gioiTinh == "Nữ")] += 1
        counts: list[ResidentCount] = []
        for home in sorted(range(len(self._communes)), key=lambda i: self._communes[i].code):
            for group in range(AGE_GROUPS):
                for female in (False, True):
                    n = cells[(home * AGE_GROUPS + group) * 2 + female]
                    if n:
                        counts.append(ResidentCount(self._communes[home], group, female, n))
        return tuple(counts)

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
            danToc=self._words.ethnic_groups[c.ethnic[row]][0],
            tonGiao=self._words.religions[c.religion[row]][0],
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
            f"{self._words.surnames[c.surname[row]][0]} {middle[c.middle[row]][0]} "
            f"{given[c.given[row]]}"
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


AGE_GROUPS: Final = 17
"""Five-year age groups, 0-4 to 75-79, then 80 and over."""
_AGE_COUNT_DAYS: Final = 32
"""Days whose counts by age are kept."""


class ResidentCount(NamedTuple):
    """How many residents of a commune are of an age group and gender."""

    commune: Commune
    age_group: int
    """0 for 0-4, 1 for 5-9, ... 16 for 80 and over."""
    female: bool
    residents: int


def _years_before(day: dt.date, years: int) -> int:
    """The ordinal of ``day`` ``years`` years earlier (28 February for a
    29 February into a common year; 0 before year 1): whoever was born on
    or before it is at least ``years`` old on ``day``."""
    if day.year <= years:
        return 0
    try:
        return day.replace(year=day.year - years).toordinal()
    except ValueError:
        return day.replace(year=day.year - years, day=28).toordinal()


_COMMUNE_SPAN: Final = _parcel_key("00001", 0, 0)
"""The keys of one commune's parcels span this much."""
_NO_KEY: Final = _parcel_key("99999", 9999, 9999) + 1
"""Above every parcel key."""


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


def _find(keys: array[int], rows: array[int], key: int) -> int | None:
    at = bisect.bisect_left(keys, key)
    if at < len(keys) and keys[at] == key:
        return rows[at]
    return None

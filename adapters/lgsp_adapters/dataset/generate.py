"""The generator: households of citizens and their land, drawn from one
seeded ``random.Random`` in a fixed order (the same config gives the same
data, byte for byte), written into the columns and wrapped in a
:class:`~lgsp_adapters.dataset.store.Dataset`."""

from __future__ import annotations

import bisect
import datetime as dt
import itertools
import random
import time
from collections.abc import Sequence
from typing import Final

import orjson
import structlog

from lgsp_adapters import names, provinces
from lgsp_adapters.dataset.columns import (
    _HAMLET,
    _NO_USE,
    _NONE,
    _QUARTER,
    _STREET,
    USE_CODES,
    _Citizens,
    _parcel_key,
    _Parcels,
)
from lgsp_adapters.dataset.config import DatasetConfig
from lgsp_adapters.dataset.store import Dataset
from lgsp_adapters.divisions import Commune, Divisions
from lgsp_contracts.land import PARCEL_LOOKUP_V1, ThuaDat
from lgsp_contracts.population import CITIZEN_LOOKUP_V1, CongDan

# Named for the package: building is the package's event, wherever it runs.
log = structlog.get_logger("lgsp_adapters.dataset")

AS_OF: Final = dt.date(2025, 7, 1)
_AS_OF = AS_OF.toordinal()

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
# Farm land allocated before the 2013 Land Law took effect had its term
# extended to 15 Oct 2063 (50 years from the end of the 1993 allocations,
# Land Law 2013 Art. 126(1) and 210(1)).
_FARM_TERM_END: Final = dt.date(2063, 10, 15)
_LAW_2013: Final = dt.date(2014, 7, 1)
_FIRST_ISSUE: Final = dt.date(2005, 1, 1).toordinal()
# Generated issue numbers (per series) and register book entries (per
# commune) start above the pinned examples' ones.
_FIRST_GENERATED_CERTIFICATE: Final = 200_000
_FIRST_GENERATED_BOOK_ENTRY: Final = 2_000
# Each province of the network numbers its residents' ids in its own block
# of the 6-digit serial (the province's index times this), so the datasets
# of the provinces, built with one seed, never give two people one id; the
# first province's block starts at 0, as when there was one province. With
# serials rising by 20 on average, a block holds a province of about 1.2
# million citizens (a million Đồng Tháp residents reach serial 196,134).
SERIALS_PER_PROVINCE: Final = 250_000


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
        # Each province draws its own people from the seed (a string seeds
        # through SHA-512: the same on every run and platform); Đồng Tháp,
        # the province of one-province mode, from the seed itself.
        self.rng = random.Random(
            config.seed
            if config.province == provinces.DEFAULT
            else f"{config.seed}/{config.province}"
        )
        self.divisions = Divisions(config.scheme, config.province)
        self.vocabulary = names.VOCABULARIES[config.province]
        self.communes: list[Commune] = list(self.divisions.home)
        self._commune_index = {c.code: i for i, c in enumerate(self.communes)}
        self.c = _Citizens()
        self.p = _Parcels()
        # The contracts' examples are people and land of Đồng Tháp.
        pinned = config.province == provinces.DEFAULT
        self.pinned_citizens = {
            c.soDinhDanh: c
            for c in (
                CongDan.model_validate_json(orjson.dumps(e.response))
                for e in (CITIZEN_LOOKUP_V1.examples if pinned else ())
            )
        }
        self.pinned_parcels = {
            _parcel_key(t.maXa, t.soHieuToBanDo, t.soThuTuThua): t
            for t in (
                ThuaDat.model_validate_json(orjson.dumps(e.response))
                for e in (PARCEL_LOOKUP_V1.examples if pinned else ())
            )
        }
        self._pinned_ids = {int(k) for k in self.pinned_citizens}
        r, v = self.rng, self.vocabulary
        self.pick_surname = _Picker(r, [w for _, w in v.surnames])
        self.pick_middle = {
            (female, young): _Picker(r, [after if young else before for _, before, after in table])
            for female, table in ((False, names.MALE_MIDDLE), (True, names.FEMALE_MIDDLE))
            for young in (False, True)
        }
        self.pick_ethnic = _Picker(r, [w for _, w in v.ethnic_groups])
        self.pick_religion = _Picker(r, [w for _, w in v.religions])
        self.pick_birth_province = _Picker(r, [w for _, w in v.birth_provinces])
        self.pick_children = _Picker(r, [15, 30, 33, 16, 6])
        self.pick_farm = _Picker(r, [w for _, w, _, _ in _FARMING])
        self._serials: dict[int, int] = {}
        self._first_serial = self.divisions.province.index * SERIALS_PER_PROVINCE
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
            home=len(self.divisions.home),
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
            else self.vocabulary.birth_provinces[self.pick_birth_province()][0]
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
        steps in the province's block, so ids are unique and not guessable
        in order."""
        century_gender = 2 * ((year - 1900) // 100) + int(female)
        prefix = (birth_province * 10 + century_gender) * 100 + year % 100
        serial = self._serials.get(prefix, self._first_serial)
        while True:
            serial += self.between(1, 40)
            number = prefix * 1_000_000 + serial
            if number not in self._pinned_ids:
                break
        if serial >= self._first_serial + SERIALS_PER_PROVINCE:
            raise ValueError(
                f"too many citizens for personal id prefix {prefix:06d} "
                f"in {self.divisions.province.name}"
            )
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
            streets = len(self.vocabulary.streets)
            return (_STREET * 1000 + self.below(streets)) * 1000 + self.between(1, 399)
        return (_HAMLET * 1000 + self.below(len(self.vocabulary.hamlets))) * 1000

    def field_detail(self, commune: Commune) -> int:
        if commune.urban:
            return (_QUARTER * 1000 + self.between(1, 12)) * 1000
        return (_HAMLET * 1000 + self.below(len(self.vocabulary.hamlets))) * 1000

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
    built(dataset, config, time.perf_counter() - started)
    return dataset


def build_quietly(config: DatasetConfig) -> Dataset:
    """:func:`build` without its log line (in a worker process, whose logs
    are not configured: the parent says it)."""
    return _Builder(config).build()


def built(dataset: Dataset, config: DatasetConfig, seconds: float) -> None:
    """Log that a dataset was built."""
    log.info(
        "dataset.built",
        citizens=dataset.citizen_count,
        parcels=dataset.parcel_count,
        seed=config.seed,
        scheme=config.scheme,
        province=config.province,
        seconds=round(seconds, 3),
    )

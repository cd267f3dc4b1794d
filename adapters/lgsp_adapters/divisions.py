"""Real administrative units for the mock data, from the ``vietnam-provinces``
package (the National Statistics Office's list of units).

Two schemes, since real systems hold both:
- ``"2025"``: the list in force since 1 July 2025 (two tiers: province, then
  commune/ward/special zone). The demo province is the new Đồng Tháp (code
  82), which absorbed Tiền Giang (Resolution 202/2025/QH15).
- ``"legacy"``: the pre-reorganisation list, the same territory as the old
  Đồng Tháp (87) and Tiền Giang (82). Needs ``vietnam-provinces`` 2026.2 or
  later, whose ``vietnam_provinces.legacy`` holds that list.

Personal ids keep the 2004 province codes of the birth registration whatever
the scheme, so every commune also says which 2004 code its residents' births
were registered under.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final, Literal, Protocol

from vietnam_provinces import Province, ProvinceCode, VietNamDivisionType, Ward

Scheme = Literal["2025", "legacy"]

DEMO_PROVINCE: Final = 82
"""Đồng Tháp in the 2025 list."""

# Birth-registration (2004) province codes of the demo province's territory.
DONG_THAP_2004: Final = 87
TIEN_GIANG_2004: Final = 82

# 2025 commune codes keep one of the merged communes' codes, and the 2004
# list numbered Tiền Giang's communes (28xxx) before Đồng Tháp's (29xxx and
# up): the code tells which former province a commune was in.
_FIRST_DONG_THAP_COMMUNE: Final = 29000

SUCCESSOR_2025: Final[dict[int, int]] = {
    1: 1,  # Hà Nội
    26: 25,  # Vĩnh Phúc -> Phú Thọ
    60: 68,  # Bình Thuận -> Lâm Đồng
    64: 52,  # Gia Lai (merged with Bình Định, code 52)
    79: 79,  # TP. Hồ Chí Minh
    80: 80,  # Long An -> Tây Ninh
    82: 82,  # Tiền Giang -> Đồng Tháp
    83: 86,  # Bến Tre -> Vĩnh Long
    86: 86,  # Vĩnh Long
    87: 82,  # Đồng Tháp
    89: 91,  # An Giang (merged with Kiên Giang, code 91)
    92: 92,  # Cần Thơ
}
"""The 2025 province that took over each 2004 province the data uses
(Resolution 202/2025/QH15)."""


@dataclass(frozen=True, slots=True)
class Commune:
    """A commune, ward or special zone, with its province."""

    code: str
    """5 digits."""
    name: str
    province_code: str
    """2 digits."""
    province_name: str
    urban: bool
    """A ward (phường, or before 2025 a township, thị trấn) rather than a
    rural commune: addresses there have streets."""
    birth_province: int
    """The 2004 province code under which births here were registered."""


class Divisions:
    """The units of one scheme: the demo province's communes, and the
    communes of the provinces people were born in."""

    def __init__(self, scheme: Scheme = "2025") -> None:
        self.scheme: Scheme = scheme
        self._source: _Source = _Current() if scheme == "2025" else _Legacy()
        self.home: tuple[Commune, ...] = self._source.home()
        """The demo province's communes, by code."""
        self._origins: dict[int, tuple[Commune, ...]] = {}

    def origin_communes(self, birth_province: int) -> tuple[Commune, ...]:
        """Communes that can be the home town (quê quán) of someone whose
        birth was registered under this 2004 province code."""
        communes = self._origins.get(birth_province)
        if communes is None:
            communes = self._source.origins(birth_province, self.home)
            self._origins[birth_province] = communes
        return communes


class _Source(Protocol):
    """Where a scheme's units come from."""

    def home(self) -> tuple[Commune, ...]: ...

    def origins(self, birth_province: int, home: tuple[Commune, ...]) -> tuple[Commune, ...]: ...


class _Current:
    def home(self) -> tuple[Commune, ...]:
        return self._communes(DEMO_PROVINCE, None)

    def origins(self, birth_province: int, home: tuple[Commune, ...]) -> tuple[Commune, ...]:
        if birth_province in (DONG_THAP_2004, TIEN_GIANG_2004):
            return tuple(c for c in home if c.birth_province == birth_province)
        # Elsewhere, any commune of the province that took the old one over.
        return self._communes(SUCCESSOR_2025[birth_province], birth_province)

    @staticmethod
    def _communes(province: int, birth_province: int | None) -> tuple[Commune, ...]:
        code = ProvinceCode(province)
        name = Province.from_code(code).name
        wards = sorted(Ward.iter_by_province(code), key=lambda w: int(w.code))
        return tuple(
            Commune(
                code=f"{int(w.code):05d}",
                name=w.name,
                province_code=f"{province:02d}",
                province_name=name,
                urban=w.division_type is VietNamDivisionType.PHUONG,
                birth_province=birth_province
                if birth_province is not None
                else (
                    TIEN_GIANG_2004 if int(w.code) < _FIRST_DONG_THAP_COMMUNE else DONG_THAP_2004
                ),
            )
            for w in wards
        )


class _Legacy:
    def __init__(self) -> None:
        try:
            self._lib: Any = importlib.import_module("vietnam_provinces.legacy")
        except ModuleNotFoundError:
            raise RuntimeError(
                "the legacy (pre-2025) list needs vietnam-provinces 2026.2 or later"
            ) from None
        self._province_of_district = {
            int(d.code): int(d.province_code) for d in self._lib.District.iter_all()
        }

    def home(self) -> tuple[Commune, ...]:
        return self._communes((TIEN_GIANG_2004, DONG_THAP_2004))

    def origins(self, birth_province: int, home: tuple[Commune, ...]) -> tuple[Commune, ...]:
        if birth_province in (DONG_THAP_2004, TIEN_GIANG_2004):
            return tuple(c for c in home if c.birth_province == birth_province)
        return self._communes((birth_province,))

    def _communes(self, provinces: Iterable[int]) -> tuple[Commune, ...]:
        wanted = set(provinces)
        names = {p: self._lib.Province.from_code(self._lib.ProvinceCode(p)).name for p in wanted}
        communes = []
        for w in self._lib.Ward.iter_all():
            province = self._province_of_district[int(w.district_code)]
            if province in wanted:
                communes.append(
                    Commune(
                        code=f"{int(w.code):05d}",
                        name=str(w.name),
                        province_code=f"{province:02d}",
                        province_name=str(names[province]),
                        urban=str(w.division_type.value) in ("phường", "thị trấn"),
                        birth_province=province,
                    )
                )
        return tuple(sorted(communes, key=lambda c: c.code))

"""Real administrative units for the mock data, from the ``vietnam-provinces``
package (the National Statistics Office's list of units).

Two schemes, since real systems hold both:
- ``"2025"``: the list in force since 1 July 2025 (two tiers: province, then
  commune/ward/special zone). A province of the network is a 2025 province
  (:mod:`~lgsp_adapters.provinces`): the new Đồng Tháp (code 82), which
  absorbed Tiền Giang (Resolution 202/2025/QH15), by default.
- ``"legacy"``: the pre-reorganisation list, the same territory as the
  2004 provinces the province was made of (for Đồng Tháp, the old Đồng
  Tháp, 87, and Tiền Giang, 82). Needs ``vietnam-provinces`` 2026.2 or
  later, whose ``vietnam_provinces.legacy`` holds that list.

Personal ids keep the 2004 province codes of the birth registration whatever
the scheme, so every commune also says which 2004 code its residents' births
were registered under.
"""

from __future__ import annotations

import bisect
import importlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final, Literal, Protocol

from vietnam_provinces import Province, ProvinceCode, VietNamDivisionType, Ward

from lgsp_adapters import provinces

Scheme = Literal["2025", "legacy"]

# Which former province a 2025 commune was in, from its code alone. The 2004
# list (Decision 124/2004/QĐ-TTg, with the National Statistics Office's
# "Danh mục các đơn vị hành chính Việt Nam 2004") numbered communes province
# by province in the order of the province codes, and a merged commune keeps
# the code of the commune whose seat it keeps (art. 1(c) of the Decision);
# so a 2025 province's commune codes fall in one block per former province.
# A block starts at the first commune of its former province in the 2004
# list; the first block of a province starts at 0. The starts, and the
# 2025 communes on either side of them (vietnam-provinces 2025.10):
# - Đồng Tháp (87) at 29869, Phường 11 of Cao Lãnh (Tiền Giang's last 2025
#   commune is 28747, Đồng Tháp's first 29869, Phường Cao Lãnh);
# - Gia Lai (64) at 23561, Phường Yên Đỗ of Pleiku (Bình Định's last 22003,
#   Gia Lai's first 23563);
# - Đắk Nông (67) at 24611, Phường Nghĩa Đức of Gia Nghĩa (Bình Thuận's last
#   23272), and Lâm Đồng (68) at 24778, Phường 7 of Đà Lạt (Đắk Nông's last
#   24760, Xã Quảng Tín; Lâm Đồng's first 24778, Phường Lâm Viên - Đà Lạt);
# - Phú Thọ (25) at 7888, Phường Dữu Lâu of Việt Trì (Hòa Bình's last 5425,
#   Phú Thọ's first 7894), and Vĩnh Phúc (26) at 8707, Phường Tích Sơn of
#   Vĩnh Yên (Phú Thọ's last 8686, Xã Tu Vũ; Vĩnh Phúc's first 8707,
#   Phường Vĩnh Yên).
_BLOCKS_2004: Final[dict[int, tuple[tuple[int, int], ...]]] = {
    82: ((0, 82), (29869, 87)),
    52: ((0, 52), (23561, 64)),
    68: ((0, 60), (24611, 67), (24778, 68)),
    25: ((0, 17), (7888, 25), (8707, 26)),
}
"""By 2025 province: (first commune code, 2004 province) of each block."""


def birth_province_2004(province_2025: int, commune: int) -> int:
    """The 2004 province a commune of one of the network's 2025 provinces
    was in: the one its residents' births were registered under."""
    blocks = _BLOCKS_2004[province_2025]
    at = bisect.bisect_right([start for start, _ in blocks], commune) - 1
    return blocks[at][1]


SUCCESSOR_2025: Final[dict[int, int]] = {
    1: 1,  # Hà Nội
    8: 8,  # Tuyên Quang (merged with Hà Giang)
    14: 14,  # Sơn La
    15: 15,  # Yên Bái -> Lào Cai (code 15)
    17: 25,  # Hòa Bình -> Phú Thọ
    19: 19,  # Thái Nguyên
    25: 25,  # Phú Thọ
    26: 25,  # Vĩnh Phúc -> Phú Thọ
    27: 24,  # Bắc Ninh (merged with Bắc Giang, code 24)
    30: 31,  # Hải Dương -> Hải Phòng
    34: 33,  # Thái Bình -> Hưng Yên
    36: 37,  # Nam Định -> Ninh Bình
    38: 38,  # Thanh Hóa
    40: 40,  # Nghệ An
    42: 42,  # Hà Tĩnh
    46: 46,  # Thừa Thiên Huế -> Thành phố Huế
    49: 48,  # Quảng Nam -> Đà Nẵng
    51: 51,  # Quảng Ngãi
    52: 52,  # Bình Định -> Gia Lai (code 52)
    54: 66,  # Phú Yên -> Đắk Lắk
    58: 56,  # Ninh Thuận -> Khánh Hòa
    60: 68,  # Bình Thuận -> Lâm Đồng
    62: 51,  # Kon Tum -> Quảng Ngãi
    64: 52,  # Gia Lai (merged with Bình Định, code 52)
    66: 66,  # Đắk Lắk
    67: 68,  # Đắk Nông -> Lâm Đồng
    68: 68,  # Lâm Đồng
    75: 75,  # Đồng Nai
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
    """The units of one scheme: one province's communes (Đồng Tháp's by
    default), and the communes of the provinces people were born in."""

    def __init__(self, scheme: Scheme = "2025", province: str = provinces.DEFAULT) -> None:
        self.scheme: Scheme = scheme
        self.province = provinces.province(province)
        self._source: _Source = (
            _Current(self.province) if scheme == "2025" else _Legacy(self.province)
        )
        self.home: tuple[Commune, ...] = self._source.home()
        """The province's communes, by code."""
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
    def __init__(self, province: provinces.Province) -> None:
        self._province = province

    def home(self) -> tuple[Commune, ...]:
        return self._communes(self._province.code, None)

    def origins(self, birth_province: int, home: tuple[Commune, ...]) -> tuple[Commune, ...]:
        if birth_province in self._province.codes_2004:
            return tuple(c for c in home if c.birth_province == birth_province)
        # Elsewhere, any commune of the province that took the old one over.
        return self._communes(SUCCESSOR_2025[birth_province], birth_province)

    @staticmethod
    def _communes(province: int, birth_province: int | None) -> tuple[Commune, ...]:
        """The 2025 province's communes; their residents' births were
        registered under ``birth_province``, or, if None (a province of the
        network), under the former province each commune was in."""
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
                else birth_province_2004(province, int(w.code)),
            )
            for w in wards
        )


class _Legacy:
    def __init__(self, province: provinces.Province) -> None:
        self._province = province
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
        return self._communes(self._province.codes_2004)

    def origins(self, birth_province: int, home: tuple[Commune, ...]) -> tuple[Commune, ...]:
        if birth_province in self._province.codes_2004:
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

"""The provinces of the demo network, as the mock systems need to know them:
names and codes (2025 and the 2004 ones of their territory), the agency
code their dossiers are numbered with, their place in the network, and the
agency each mock system stands for there.

Since 1 July 2025 (Resolution 202/2025/QH15 on rearranging provincial
units) the four provinces of the network are:

| key | province | 2025 code | 2004 provinces merged into it |
|---|---|---|---|
| ``dongthap`` | Đồng Tháp | 82 | Đồng Tháp (87), Tiền Giang (82) |
| ``gialai`` | Gia Lai | 52 | Gia Lai (64), Bình Định (52) |
| ``lamdong`` | Lâm Đồng | 68 | Lâm Đồng (68), Đắk Nông (67), Bình Thuận (60) |
| ``phutho`` | Phú Thọ | 25 | Phú Thọ (25), Vĩnh Phúc (26), Hòa Bình (17) |

The 2025 codes and names are those of ``vietnam-provinces`` (checked by the
unit tests). Personal ids keep the 2004 code of the province where a birth
was registered (Circular 59/2021/TT-BCA), so each province lists the 2004
codes of its territory, its own first.

The keys are those of ``lgsp.config.DEMO_PROVINCES`` (the mock systems
import only the bus's public API; a unit test keeps the two in step). A
module reads the province it serves from its adapter's settings with
:func:`province_of` (``LGSP_PROVINCE``; Đồng Tháp without it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

DEFAULT: Final = "dongthap"
"""The province of a module whose settings name none (one-province mode)."""


@dataclass(frozen=True, slots=True)
class Province:
    """One province of the demo network."""

    key: str
    """How settings, client ids and URLs name it (``LGSP_PROVINCE``)."""
    name: str
    """The 2025 name, without "tỉnh" (``Gia Lai``)."""
    code: int
    """The 2025 province code."""
    codes_2004: tuple[int, ...]
    """The 2004 codes of its territory, its own first: the birth-registration
    prefixes of its residents' personal ids."""
    agency_code: str
    """The People's Committee's agency code in the QCVN 102:2016 form
    (``000.00.00.Hxx``): the prefix of its dossier numbers (Circular
    01/2018/TT-VPCP) and its ``madonvi`` at the national public service
    portal."""
    index: int
    """Its place in the network, 0..3: what other modules offset ports by."""

    @property
    def madonvi(self) -> str:
        """The agency code the national public service portal knows it by."""
        return self.agency_code

    @property
    def full_name(self) -> str:
        """``tỉnh Gia Lai``, as agency names write it."""
        return f"tỉnh {self.name}"


# Agency codes of the QCVN 102:2016 level-1 list (``H`` + two digits for the
# provinces, in alphabetical order of the pre-2025 names). Đồng Tháp's H20 is
# what its one-stop system (OpenCPS) numbers dossiers with, and Gia Lai's H21
# what its iGate portal (apiigate.gialai.gov.vn) suffixes procedure codes
# with (``1.012784.H21``, ``2.000635.000.00.00.H21``). Lâm Đồng's H36 and Phú
# Thọ's H44 follow from that order (Hậu Giang H30, Lào Cai H38, Nghệ An H41,
# Quảng Ngãi H48 as their systems use them): inferred, not read in the
# standard's own table, so illustrative. Whether the merged provinces kept
# these codes after 1 July 2025 is not verified either.
PROVINCES: Final[Mapping[str, Province]] = MappingProxyType(
    {
        p.key: p
        for p in (
            Province("dongthap", "Đồng Tháp", 82, (87, 82), "000.00.00.H20", 0),
            Province("gialai", "Gia Lai", 52, (64, 52), "000.00.00.H21", 1),
            Province("lamdong", "Lâm Đồng", 68, (68, 67, 60), "000.00.00.H36", 2),
            Province("phutho", "Phú Thọ", 25, (25, 26, 17), "000.00.00.H44", 3),
        )
    }
)
"""The provinces of the demo network, by key, in index order."""


def province_of(env: Mapping[str, str]) -> Province:
    """The province these settings are of (``LGSP_PROVINCE``, default
    Đồng Tháp)."""
    key = env.get("LGSP_PROVINCE") or DEFAULT
    province = PROVINCES.get(key)
    if province is None:
        raise ValueError(f"LGSP_PROVINCE must be one of {', '.join(PROVINCES)}, not {key!r}")
    return province


def province(key: str) -> Province:
    """The province with this key (a ``ValueError`` naming the known ones
    for another)."""
    return province_of({"LGSP_PROVINCE": key})


# What each mock system stands for in a province: {} is "tỉnh <name>". The
# NDXP connector is the national platform's, the same in every province.
_AGENCIES: Final[Mapping[str, str]] = MappingProxyType(
    {
        "land": "Sở Nông nghiệp và Môi trường {} — Cơ sở dữ liệu đất đai (mock)",
        "onestop": "UBND {} — Hệ thống thông tin giải quyết thủ tục hành chính (mock)",
        "dvcqg": "UBND {} — đồng bộ hồ sơ lên Cổng Dịch vụ công quốc gia (mock)",
        "warehouse": "UBND {} — Kho dữ liệu dùng chung (mock)",
        "ndxp": "NDXP — Nền tảng tích hợp, chia sẻ dữ liệu quốc gia "
        "(connector of the province's LGSP)",
    }
)
ADAPTERS: Final = frozenset(_AGENCIES)
"""The mock systems :func:`agency_for` knows."""


def agency_for(adapter_name: str, province_key: str) -> str:
    """The agency the mock system ``adapter_name`` stands for in a province
    (for Đồng Tháp, the module-level adapter's own ``agency``). A
    ``ValueError`` for a system not in :data:`ADAPTERS` or an unknown
    province."""
    template = _AGENCIES.get(adapter_name)
    if template is None:
        known = ", ".join(sorted(ADAPTERS))
        raise ValueError(f"no agency is known for adapter {adapter_name!r} (known: {known})")
    return template.format(province(province_key).full_name)

"""Building blocks shared by several contracts: Vietnamese identifiers, the
address, a person reference and a parcel reference.

Field names follow the convention of real government APIs (Vietnamese
without diacritics, camelCase); values carry full diacritics. The string
types carry their rule as a pattern, so the exported JSON Schema tells
integrators what a valid value looks like.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints

from lgsp_contracts.spec import Contract

SoDinhDanh = Annotated[str, StringConstraints(pattern=r"^[0-9]{12}$")]
"""Personal identification number (số định danh cá nhân; Decree 137/2015/NĐ-CP,
Circular 59/2021/TT-BCA): digits 1-3 the province where the birth was
registered (2004 province codes), digit 4 century and gender, digits 5-6 the
birth year, digits 7-12 a serial."""

MaTinh = Annotated[str, StringConstraints(pattern=r"^[0-9]{2}$")]
MaXa = Annotated[str, StringConstraints(pattern=r"^[0-9]{5}$")]
TenDonVi = Annotated[str, StringConstraints(min_length=2, max_length=100)]
ChiTiet = Annotated[str, StringConstraints(min_length=1, max_length=200)]
# Whitespace as both regex engines a contract meets read it: JSON Schema's
# (ECMA-262) and pydantic's (Rust's regex crate) disagree on `\s` (U+0085 is
# whitespace to Rust only, U+FEFF to ECMA-262 only) and on `.`, so patterns
# name the characters, and a value valid by the published schema is valid here.
SPACE = r"\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
LINE = r"[^\n\r\u2028\u2029]"
"""Any character but a line break (what `.` means to ECMA-262)."""
# A trimmed name: no leading or trailing space.
HoVaTen = Annotated[
    str,
    StringConstraints(min_length=2, max_length=100, pattern=rf"^[^{SPACE}](?:{LINE}*[^{SPACE}])?$"),
]
SoHieu = Annotated[int, Field(ge=1, le=9999)]


class DiaChi(Contract):
    """An address (địa chỉ) in the two-tier local government in force since
    1 July 2025: details, then commune/ward, then province. Codes and names
    come from the official list of administrative units (the legacy pre-2025
    list when a deployment runs its data in legacy mode)."""

    chiTiet: ChiTiet | None = Field(
        default=None,
        description="Details below the commune (chi tiết): house number and street, or hamlet "
        "(ấp, khóm, khu phố); null when only the commune is known, as for a home town.",
    )
    maXa: MaXa = Field(description="Code of the commune, ward or special zone (mã xã), 5 digits.")
    tenXa: TenDonVi = Field(
        description="Name of the commune, ward or special zone with its type, "
        "e.g. 'Phường Cao Lãnh'."
    )
    maTinh: MaTinh = Field(
        description="Code of the province or centrally run city (mã tỉnh), 2 digits."
    )
    tenTinh: TenDonVi = Field(description="Name of the province, e.g. 'Đồng Tháp'.")


class CaNhan(Contract):
    """A person named by personal id and full name (cá nhân), e.g. a land user
    or the applicant of a dossier."""

    soDinhDanh: SoDinhDanh = Field(
        description="The person's personal identification number, 12 digits."
    )
    hoVaTen: HoVaTen = Field(
        description="The person's full name with diacritics, e.g. 'Nguyễn Văn Hùng'."
    )


class ThamChieuThuaDat(Contract):
    """What identifies a land parcel (thửa đất): commune, map sheet, parcel
    number. Parcels of one commune have unique (sheet, parcel) pairs."""

    maXa: MaXa = Field(
        description="Code of the commune or ward where the parcel lies (mã xã), 5 digits."
    )
    soHieuToBanDo: SoHieu = Field(description="Cadastral map sheet number (số hiệu tờ bản đồ).")
    soThuTuThua: SoHieu = Field(description="Parcel number on that sheet (số thứ tự thửa).")

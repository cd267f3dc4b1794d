"""The national population database (Cơ sở dữ liệu quốc gia về dân cư),
reached through NDXP: looking a citizen up by personal id, and verifying that
a personal id belongs to a name and birth date.

Real requests say who asks and why, for accountability (``maYeuCau``,
``maDVC``, ``maCanBo``), as the national operations ``TraCuuThongTinCongDan``
and ``XacThucThongTinCongDan`` do; the record's fields follow the provinces'
REST variants of them.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from lgsp_contracts.fields import DiaChi, HoVaTen, MaXa, SoDinhDanh, TenDonVi
from lgsp_contracts.spec import Contract, ErrorSpec, Example, ServiceContract, TopicContract

MaYeuCau = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._:-]{1,64}$")]
MaDVC = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._-]{1,64}$")]
MaCanBo = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._@-]{1,64}$")]
TenDanhMuc = Annotated[str, StringConstraints(min_length=2, max_length=50)]


class YeuCauCoTrachNhiem(Contract):
    """Who asks and why: every request to the national population database
    names its caller's request, the public service it serves and the officer,
    for accountability."""

    maYeuCau: MaYeuCau = Field(
        description="The caller's id for this request (mã yêu cầu), up to 64 characters of "
        "[A-Za-z0-9._:-]; kept for accountability."
    )
    maDVC: MaDVC = Field(
        description="Code of the public service being delivered (mã dịch vụ công), e.g. the "
        "national procedure code '1.004873'."
    )
    maCanBo: MaCanBo = Field(
        description="Id of the officer who asks (mã cán bộ), up to 64 characters of "
        "[A-Za-z0-9._@-]."
    )


class YeuCauTraCuuCongDan(YeuCauCoTrachNhiem):
    """Request of ``population.citizen.lookup`` (tra cứu thông tin công dân).

    ``hoVaTen`` and ``ngayThangNam``, when given, must agree with the record:
    as in the national service, a record is only returned to a caller who
    already knows who it is about."""

    soDinhDanh: SoDinhDanh = Field(
        description="Personal identification number (số định danh cá nhân) of the citizen, "
        "12 digits."
    )
    hoVaTen: HoVaTen | None = Field(
        default=None,
        description="Full name (họ và tên) as the caller knows it; when given, it must match the "
        "record (case and spacing aside).",
    )
    ngayThangNam: dt.date | None = Field(
        default=None,
        description="Date of birth (ngày tháng năm sinh), ISO 8601; when given, it must "
        "match the record.",
    )


class CongDan(Contract):
    """A citizen's record (công dân) in the national population database."""

    soDinhDanh: SoDinhDanh = Field(
        description="Personal identification number (số định danh cá nhân), 12 digits; its digits "
        "agree with the birth province, century, gender and birth year."
    )
    hoVaTen: HoVaTen = Field(description="Full name (họ và tên) with diacritics.")
    ngaySinh: dt.date = Field(description="Date of birth (ngày sinh), ISO 8601.")
    gioiTinh: Literal["Nam", "Nữ"] = Field(
        description="Sex (giới tính): 'Nam' (male) or 'Nữ' (female)."
    )
    danToc: TenDanhMuc = Field(description="Ethnic group (dân tộc), e.g. 'Kinh'.")
    tonGiao: TenDanhMuc = Field(
        description="Religion (tôn giáo), e.g. 'Phật giáo'; 'Không' for none."
    )
    quocTich: TenDanhMuc = Field(description="Nationality (quốc tịch), e.g. 'Việt Nam'.")
    queQuan: DiaChi = Field(description="Home town (quê quán); usually without details.")
    noiThuongTru: DiaChi = Field(description="Place of permanent residence (nơi thường trú).")
    noiOHienTai: DiaChi = Field(description="Place of current residence (nơi ở hiện tại).")
    soDinhDanhCha: SoDinhDanh | None = Field(
        default=None, description="Personal id of the father (số định danh của cha), if recorded."
    )
    soDinhDanhMe: SoDinhDanh | None = Field(
        default=None, description="Personal id of the mother (số định danh của mẹ), if recorded."
    )
    soDinhDanhVoChong: SoDinhDanh | None = Field(
        default=None,
        description="Personal id of the spouse (số định danh của vợ hoặc chồng), if married.",
    )


def _address(chi_tiet: str | None, ma_xa: str, ten_xa: str) -> dict[str, str | None]:
    return {
        "chiTiet": chi_tiet,
        "maXa": ma_xa,
        "tenXa": ten_xa,
        "maTinh": "82",
        "tenTinh": "Đồng Tháp",
    }


# The demo family: these records are pinned into the mock's synthetic data
# (lgsp_adapters.dataset), so every example below is real.
_HOME = _address("Số 45 đường Nguyễn Huệ", "29869", "Phường Cao Lãnh")
_HUNG = {
    "soDinhDanh": "087090001234",
    "hoVaTen": "Nguyễn Văn Hùng",
    "ngaySinh": "1990-05-17",
    "gioiTinh": "Nam",
    "danToc": "Kinh",
    "tonGiao": "Không",
    "quocTich": "Việt Nam",
    "queQuan": _address(None, "29926", "Xã Tân Hồng"),
    "noiThuongTru": _HOME,
    "noiOHienTai": _HOME,
    "soDinhDanhCha": None,
    "soDinhDanhMe": None,
    "soDinhDanhVoChong": "087192004321",
}
_HONG = {
    "soDinhDanh": "087192004321",
    "hoVaTen": "Lê Thị Hồng",
    "ngaySinh": "1992-11-03",
    "gioiTinh": "Nữ",
    "danToc": "Kinh",
    "tonGiao": "Phật giáo",
    "quocTich": "Việt Nam",
    "queQuan": _address(None, "30169", "Xã Lấp Vò"),
    "noiThuongTru": _HOME,
    "noiOHienTai": _HOME,
    "soDinhDanhCha": None,
    "soDinhDanhMe": None,
    "soDinhDanhVoChong": "087090001234",
}
_KHANG = {
    "soDinhDanh": "087218000123",
    "hoVaTen": "Nguyễn Minh Khang",
    "ngaySinh": "2018-03-12",
    "gioiTinh": "Nam",
    "danToc": "Kinh",
    "tonGiao": "Không",
    "quocTich": "Việt Nam",
    "queQuan": _address(None, "29926", "Xã Tân Hồng"),
    "noiThuongTru": _HOME,
    "noiOHienTai": _HOME,
    "soDinhDanhCha": "087090001234",
    "soDinhDanhMe": "087192004321",
    "soDinhDanhVoChong": None,
}


def _ask(so_dinh_danh: str, n: int, **known: str) -> dict[str, str]:
    return {
        "maYeuCau": f"dongthap.onestop-20250606-{n:06d}",
        "maDVC": "1.004873",
        "maCanBo": "canbo.motcua01",
        "soDinhDanh": so_dinh_danh,
        **known,
    }


CITIZEN_LOOKUP_V1 = ServiceContract(
    service="population.citizen.lookup",
    version=1,
    owner="Bộ Công an — Cơ sở dữ liệu quốc gia về dân cư (mock)",
    description="Look a citizen up by personal identification number in the national "
    "population database (TraCuuThongTinCongDan), saying who asks and for which public "
    "service. Optional name and birth date must agree with the record.",
    request=YeuCauTraCuuCongDan,
    response=CongDan,
    subject="soDinhDanh",
    purpose="maDVC",
    errors=(
        ErrorSpec(
            404,
            "population.citizen.not_found",
            "No citizen has this personal id (with this name and birth date, when given)",
        ),
    ),
    examples=(
        Example(request=_ask("087090001234", 1), response=_HUNG, title="Lookup by personal id"),
        Example(request=_ask("087192004321", 2), response=_HONG, title="The spouse"),
        Example(
            request=_ask("087218000123", 3, hoVaTen="Nguyễn Minh Khang", ngayThangNam="2018-03-12"),
            response=_KHANG,
            title="A child, with name and birth date checked",
        ),
    ),
)
"""``population.citizen.lookup`` v1."""


class YeuCauXacThucCongDan(YeuCauCoTrachNhiem):
    """Request of ``population.citizen.verify`` (xác thực thông tin công dân):
    does this personal id belong to this name and birth date?"""

    soDinhDanh: SoDinhDanh = Field(
        description="Personal identification number (số định danh cá nhân) to verify, 12 digits."
    )
    hoVaTen: HoVaTen = Field(
        description="Full name (họ và tên) the person gave; compared with the record's, "
        "case and spacing aside."
    )
    ngaySinh: dt.date = Field(description="Date of birth (ngày sinh) the person gave, ISO 8601.")


TruongXacThuc = Literal["hoVaTen", "ngaySinh"]


class KetQuaXacThucCongDan(Contract):
    """The verification's answer: whether everything matched and what did not.
    Never the record itself."""

    khop: bool = Field(
        description="True when the name and birth date both match the record (khớp)."
    )
    truongKhongKhop: list[TruongXacThuc] = Field(
        description="The request fields that do not match the record (trường không khớp), "
        "in request order; empty when khop is true."
    )


def _verify(n: int, so_dinh_danh: str, ho_va_ten: str, ngay_sinh: str) -> dict[str, str]:
    return {
        **_ask(so_dinh_danh, n),
        "hoVaTen": ho_va_ten,
        "ngaySinh": ngay_sinh,
    }


CITIZEN_VERIFY_V1 = ServiceContract(
    service="population.citizen.verify",
    version=1,
    owner="Bộ Công an — Cơ sở dữ liệu quốc gia về dân cư (mock)",
    description="Verify that a personal identification number belongs to a name and birth "
    "date in the national population database (XacThucThongTinCongDan), saying who asks and "
    "for which public service. Answers only whether they match and which fields do not: "
    "never the record.",
    request=YeuCauXacThucCongDan,
    response=KetQuaXacThucCongDan,
    subject="soDinhDanh",
    purpose="maDVC",
    errors=(ErrorSpec(404, "population.citizen.not_found", "No citizen has this personal id"),),
    examples=(
        Example(
            request=_verify(4, "087090001234", "Nguyễn Văn Hùng", "1990-05-17"),
            response={"khop": True, "truongKhongKhop": []},
            title="Name and birth date match",
        ),
        Example(
            request=_verify(5, "087192004321", "Lê Thị Hồng", "1992-03-11"),
            response={"khop": False, "truongKhongKhop": ["ngaySinh"]},
            title="The birth date does not match",
        ),
        Example(
            request=_verify(6, "087218000123", "Nguyễn Minh Khanh", "2018-03-12"),
            response={"khop": False, "truongKhongKhop": ["hoVaTen"]},
            title="The name does not match",
        ),
    ),
)
"""``population.citizen.verify`` v1."""

TOPICS: tuple[TopicContract, ...] = ()


# -- statistics: how many people, by commune, age group and gender -------------

NhomTuoi = Literal[
    "00-04",
    "05-09",
    "10-14",
    "15-19",
    "20-24",
    "25-29",
    "30-34",
    "35-39",
    "40-44",
    "45-49",
    "50-54",
    "55-59",
    "60-64",
    "65-69",
    "70-74",
    "75-79",
    "80+",
]
"""Five-year age groups (nhóm tuổi), as the General Statistics Office
publishes population by age."""


class YeuCauThongKeDanSo(YeuCauCoTrachNhiem):
    """Request of ``population.commune.statistics``: the number of residents
    of the province's communes by age group and gender, on a date. Only
    counts travel: no record leaves the population database."""

    ngayThongKe: dt.date = Field(
        description="The reference date (ngày thống kê): ages are counted on it, ISO 8601."
    )
    maXa: MaXa | None = Field(
        default=None, description="Only this commune (mã xã); default every commune."
    )


class DongThongKeDanSo(Contract):
    """One cell of the population count: a commune, an age group, a gender."""

    maXa: MaXa = Field(description="Commune of permanent residence (mã xã).")
    tenXa: TenDonVi = Field(description="Its name (tên xã).")
    nhomTuoi: NhomTuoi = Field(description="Age group on the reference date (nhóm tuổi).")
    gioiTinh: Literal["Nam", "Nữ"] = Field(description="Gender (giới tính).")
    soNguoi: int = Field(
        ge=1, description="Number of residents (số người); empty cells are left out."
    )


class ThongKeDanSo(Contract):
    """Response of ``population.commune.statistics``."""

    ngayThongKe: dt.date = Field(description="The reference date (ngày thống kê).")
    danhSach: list[DongThongKeDanSo] = Field(
        description="Counts by commune, age group and gender, in that order."
    )


# Phường Thới Sơn (28270) on 1 July 2025, as the demo dataset (its seed,
# 10,000 citizens) counts it: (age group, gender, residents).
_THOI_SON: tuple[tuple[str, str, int], ...] = (
    ("00-04", "Nữ", 1),
    ("05-09", "Nam", 1),
    ("05-09", "Nữ", 3),
    ("10-14", "Nam", 1),
    ("10-14", "Nữ", 4),
    ("15-19", "Nam", 1),
    ("15-19", "Nữ", 5),
    ("20-24", "Nam", 5),
    ("20-24", "Nữ", 5),
    ("25-29", "Nam", 6),
    ("25-29", "Nữ", 4),
    ("30-34", "Nam", 3),
    ("35-39", "Nam", 3),
    ("35-39", "Nữ", 4),
    ("40-44", "Nam", 3),
    ("45-49", "Nam", 1),
    ("45-49", "Nữ", 1),
    ("55-59", "Nam", 1),
    ("55-59", "Nữ", 2),
    ("60-64", "Nam", 2),
    ("60-64", "Nữ", 1),
    ("65-69", "Nam", 1),
    ("70-74", "Nam", 2),
    ("80+", "Nam", 1),
)

COMMUNE_STATISTICS_V1 = ServiceContract(
    service="population.commune.statistics",
    version=1,
    owner=CITIZEN_LOOKUP_V1.owner,
    description="How many residents the province's communes have (by commune of permanent "
    "residence) in each five-year age group (age in whole years on ngayThongKe; 80 and over "
    "last) and gender, on a reference date, from the national population database through "
    "NDXP (ThongKeDanSo), saying who asks and why. Only counts: no record leaves the "
    "database. Empty cells are left out; the rest are ordered by commune code, age group "
    "and gender. For the shared data warehouse's population figures.",
    request=YeuCauThongKeDanSo,
    response=ThongKeDanSo,
    errors=(
        ErrorSpec(
            404, "population.commune.unknown", "maXa is not the code of a commune of the province"
        ),
    ),
    examples=(
        Example(
            request={
                "maYeuCau": "dongthap.warehouse-20250701-000001",
                "maDVC": "khodulieu.danso",
                "maCanBo": "kho.dulieu",
                "ngayThongKe": "2025-07-01",
                "maXa": "28270",
            },
            response={
                "ngayThongKe": "2025-07-01",
                "danhSach": [
                    {
                        "maXa": "28270",
                        "tenXa": "Phường Thới Sơn",
                        "nhomTuoi": group,
                        "gioiTinh": gender,
                        "soNguoi": n,
                    }
                    for group, gender, n in _THOI_SON
                ],
            },
            title="A small ward on the day the two-tier local government began",
        ),
    ),
)
"""``population.commune.statistics`` v1."""

SERVICES = (CITIZEN_LOOKUP_V1, CITIZEN_VERIFY_V1, COMMUNE_STATISTICS_V1)

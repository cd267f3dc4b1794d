"""The provincial land database (Cơ sở dữ liệu đất đai, run by the Department
of Agriculture and Environment): looking a parcel up, finding the parcels of a
land user, looking a certificate up.

Field names follow VBDLIS, the land information system the provinces run.
Areas are square metres with one decimal; the parts of ``mucDichSuDung`` add
up to ``dienTichPhapLy``.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from lgsp_contracts.fields import (
    CaNhan,
    DiaChi,
    MaXa,
    SoDinhDanh,
    SoHieu,
    TenDonVi,
    ThamChieuThuaDat,
)
from lgsp_contracts.spec import Contract, ErrorSpec, Example, ServiceContract, TopicContract

DienTich = Annotated[float, Field(gt=0, lt=100_000_000, multiple_of=0.1)]
KyHieuMucDich = Literal["ODT", "ONT", "LUC", "BHK", "CLN", "NTS"]
"""The land-use codes the mock's data uses (a subset of the national list):
ODT urban residential, ONT rural residential, LUC wet rice, BHK other annual
crops, CLN perennial crops, NTS aquaculture."""


class YeuCauTraCuuThuaDat(ThamChieuThuaDat):
    """Request of ``land.parcel.lookup``: the parcel's commune, map sheet and
    parcel number."""


class MucDichSuDung(Contract):
    """One land use of a parcel (mục đích sử dụng) and its area."""

    kyHieu: KyHieuMucDich = Field(
        description="Land-use code (ký hiệu loại đất): ODT urban residential, ONT rural "
        "residential, LUC wet rice, BHK other annual crops, CLN perennial crops, NTS aquaculture."
    )
    dienTich: DienTich = Field(description="Area of this use (diện tích), m², one decimal.")


SoPhatHanh = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2} [0-9]{6}$")]
"""Issue number printed on a certificate (số phát hành): two letters, a space,
six digits, e.g. ``DA 123456``."""
SoVaoSo = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}[0-9]{5}$")]


class GiayChungNhan(Contract):
    """The land-use right certificate (giấy chứng nhận quyền sử dụng đất)."""

    soPhatHanh: SoPhatHanh = Field(
        description="Issue number printed on the certificate (số phát hành): two letters, a "
        "space, six digits, e.g. 'DA 123456'."
    )
    soVaoSo: SoVaoSo = Field(
        description="Entry number in the certificate register (số vào sổ cấp giấy chứng nhận), "
        "e.g. 'CS01234'."
    )
    ngayCap: dt.date = Field(description="Date of issue (ngày cấp), ISO 8601.")


class ThuaDat(Contract):
    """A land parcel (thửa đất) as the land database records it."""

    maXa: MaXa = Field(description="Code of the commune or ward (mã xã), 5 digits.")
    tenXa: TenDonVi = Field(description="Name of the commune or ward (tên xã).")
    soHieuToBanDo: SoHieu = Field(description="Cadastral map sheet number (số hiệu tờ bản đồ).")
    soThuTuThua: SoHieu = Field(description="Parcel number on that sheet (số thứ tự thửa).")
    diaChi: DiaChi = Field(description="Address of the parcel (địa chỉ thửa đất).")
    dienTich: DienTich = Field(description="Surveyed area (diện tích), m², one decimal.")
    dienTichPhapLy: DienTich = Field(
        description="Legally recognised area (diện tích pháp lý), m², one decimal; "
        "the uses add up to it."
    )
    mucDichSuDung: list[MucDichSuDung] = Field(
        min_length=1, description="Land uses and their areas (mục đích sử dụng)."
    )
    thoiHanSuDung: Literal["Lâu dài"] | dt.date = Field(
        description="Term of use (thời hạn sử dụng): 'Lâu dài' (indefinite) or the ISO "
        "date it ends."
    )
    nguonGocSuDung: Annotated[str, StringConstraints(min_length=2, max_length=200)] = Field(
        description="Origin of the use right (nguồn gốc sử dụng), in the certificates' wording, "
        "e.g. 'Nhà nước giao đất không thu tiền sử dụng đất'."
    )
    chuSuDung: list[CaNhan] = Field(
        min_length=1, description="Land users (người sử dụng đất): personal id and full name."
    )
    giayChungNhan: GiayChungNhan = Field(description="The certificate issued for the parcel.")
    tinhTrangThueChap: Literal["Không thế chấp", "Đang thế chấp"] = Field(
        description="Encumbrance (tình trạng thế chấp): whether the use right is mortgaged."
    )


_HUNG: dict[str, Any] = {"soDinhDanh": "087090001234", "hoVaTen": "Nguyễn Văn Hùng"}
_HONG: dict[str, Any] = {"soDinhDanh": "087192004321", "hoVaTen": "Lê Thị Hồng"}

# Pinned into the mock's synthetic data (lgsp_adapters.dataset) with their
# owners, the demo family of population.citizen.lookup's examples.
_HOUSE: dict[str, Any] = {
    "maXa": "29869",
    "tenXa": "Phường Cao Lãnh",
    "soHieuToBanDo": 12,
    "soThuTuThua": 345,
    "diaChi": {
        "chiTiet": "Số 45 đường Nguyễn Huệ",
        "maXa": "29869",
        "tenXa": "Phường Cao Lãnh",
        "maTinh": "82",
        "tenTinh": "Đồng Tháp",
    },
    "dienTich": 152.3,
    "dienTichPhapLy": 152.3,
    "mucDichSuDung": [{"kyHieu": "ODT", "dienTich": 152.3}],
    "thoiHanSuDung": "Lâu dài",
    "nguonGocSuDung": (
        "Nhận chuyển nhượng đất được Công nhận QSDĐ như giao đất có thu tiền sử dụng đất"
    ),
    "chuSuDung": [_HUNG, _HONG],
    "giayChungNhan": {"soPhatHanh": "DA 123456", "soVaoSo": "CS01234", "ngayCap": "2021-08-16"},
    "tinhTrangThueChap": "Không thế chấp",
}
_RICE_FIELD: dict[str, Any] = {
    "maXa": "30037",
    "tenXa": "Xã Tháp Mười",
    "soHieuToBanDo": 8,
    "soThuTuThua": 127,
    "diaChi": {
        "chiTiet": "Ấp Mỹ Thạnh",
        "maXa": "30037",
        "tenXa": "Xã Tháp Mười",
        "maTinh": "82",
        "tenTinh": "Đồng Tháp",
    },
    "dienTich": 4852.6,
    "dienTichPhapLy": 4850.0,
    "mucDichSuDung": [{"kyHieu": "LUC", "dienTich": 4850.0}],
    # Annual-crop land allocated before 2013 had its term extended by 50
    # years from 15 Oct 2013 (Land Law 2013, Art. 126(1) and 210(1)).
    "thoiHanSuDung": "2063-10-15",
    "nguonGocSuDung": "Nhà nước giao đất không thu tiền sử dụng đất",
    "chuSuDung": [_HUNG],
    "giayChungNhan": {"soPhatHanh": "BK 045678", "soVaoSo": "CH00456", "ngayCap": "2012-04-20"},
    "tinhTrangThueChap": "Đang thế chấp",
}


def _ask(parcel: dict[str, object]) -> dict[str, object]:
    return {k: parcel[k] for k in ("maXa", "soHieuToBanDo", "soThuTuThua")}


PARCEL_LOOKUP_V1 = ServiceContract(
    service="land.parcel.lookup",
    version=1,
    owner="Sở Nông nghiệp và Môi trường tỉnh Đồng Tháp — Cơ sở dữ liệu đất đai (mock)",
    description="Look a land parcel up by commune, map sheet and parcel number: areas, land "
    "uses, term, origin, land users, certificate and encumbrance.",
    request=YeuCauTraCuuThuaDat,
    response=ThuaDat,
    errors=(
        ErrorSpec(404, "land.parcel.not_found", "No parcel with this commune, sheet and number"),
    ),
    examples=(
        Example(request=_ask(_HOUSE), response=_HOUSE, title="A house plot held by a couple"),
        Example(request=_ask(_RICE_FIELD), response=_RICE_FIELD, title="A mortgaged rice field"),
    ),
)
"""``land.parcel.lookup`` v1."""

MAX_PAGE_SIZE = 100
"""The most parcels ``land.parcel.search`` answers with in one page."""


class YeuCauTimThuaDat(Contract):
    """Request of ``land.parcel.search``: the parcels a land user holds, one
    page at a time."""

    soDinhDanh: SoDinhDanh = Field(
        description="Personal identification number (số định danh cá nhân) of the land user, "
        "12 digits: parcels they hold alone or with others."
    )
    trang: int = Field(default=1, ge=1, le=10_000, description="Page number (trang), from 1.")
    soBanGhiMoiTrang: int = Field(
        default=20,
        ge=1,
        le=MAX_PAGE_SIZE,
        description=f"Parcels per page (số bản ghi mỗi trang), 1 to {MAX_PAGE_SIZE}; default 20.",
    )


class DanhSachThuaDat(Contract):
    """Response of ``land.parcel.search``: one page of a land user's parcels."""

    soDinhDanh: SoDinhDanh = Field(description="The land user asked about.")
    tongSoBanGhi: int = Field(
        ge=0, description="How many parcels the land user holds in all (tổng số bản ghi)."
    )
    trang: int = Field(ge=1, description="This page's number (trang).")
    soBanGhiMoiTrang: int = Field(
        ge=1, le=MAX_PAGE_SIZE, description="Parcels per page (số bản ghi mỗi trang)."
    )
    danhSach: list[ThuaDat] = Field(
        description="The parcels of this page (danh sách thửa đất), ordered by commune code, "
        "map sheet and parcel number; empty when the user holds none, or past the last page."
    )


class YeuCauTraCuuGiayChungNhan(Contract):
    """Request of ``land.certificate.lookup``: the certificate's issue number."""

    soPhatHanh: SoPhatHanh = Field(
        description="Issue number printed on the certificate (số phát hành): two letters, a "
        "space, six digits, e.g. 'DA 123456'."
    )


class GiayChungNhanQuyenSuDungDat(Contract):
    """Response of ``land.certificate.lookup``: a land-use right certificate
    with its land users and the parcel(s) it covers (one certificate may
    cover several parcels of the same users)."""

    soPhatHanh: SoPhatHanh = Field(description="Issue number (số phát hành).")
    soVaoSo: SoVaoSo = Field(
        description="Entry number in the certificate register (số vào sổ cấp giấy chứng nhận)."
    )
    ngayCap: dt.date = Field(description="Date of issue (ngày cấp), ISO 8601.")
    chuSuDung: list[CaNhan] = Field(
        min_length=1,
        description="The land users named on the certificate (người sử dụng đất).",
    )
    thuaDat: list[ThuaDat] = Field(
        min_length=1,
        description="The parcels the certificate covers (thửa đất), as land.parcel.lookup "
        "returns them.",
    )


_KHANG = "087218000123"  # the couple's son (population.citizen.lookup's examples)

PARCEL_SEARCH_V1 = ServiceContract(
    service="land.parcel.search",
    version=1,
    owner=PARCEL_LOOKUP_V1.owner,
    description="Find the parcels a land user holds (alone or with others) by personal id, "
    f"a page at a time (at most {MAX_PAGE_SIZE} a page; default 20), ordered by commune, "
    "map sheet and parcel number. Someone holding no land gets an empty list, not an error.",
    request=YeuCauTimThuaDat,
    response=DanhSachThuaDat,
    # The request names no procedure: NDOP hears who asked, not why.
    subject="soDinhDanh",
    # No domain error: a user holding no land, or a page past the last, is
    # an empty list.
    examples=(
        Example(
            request={"soDinhDanh": _HUNG["soDinhDanh"]},
            response={
                "soDinhDanh": _HUNG["soDinhDanh"],
                "tongSoBanGhi": 2,
                "trang": 1,
                "soBanGhiMoiTrang": 20,
                "danhSach": [_HOUSE, _RICE_FIELD],
            },
            title="A land user's parcels: a house plot held with his wife, a rice field",
        ),
        Example(
            request={"soDinhDanh": _HUNG["soDinhDanh"], "trang": 2, "soBanGhiMoiTrang": 1},
            response={
                "soDinhDanh": _HUNG["soDinhDanh"],
                "tongSoBanGhi": 2,
                "trang": 2,
                "soBanGhiMoiTrang": 1,
                "danhSach": [_RICE_FIELD],
            },
            title="The second page, one parcel a page",
        ),
        Example(
            request={"soDinhDanh": _KHANG},
            response={
                "soDinhDanh": _KHANG,
                "tongSoBanGhi": 0,
                "trang": 1,
                "soBanGhiMoiTrang": 20,
                "danhSach": [],
            },
            title="A child holds no land: an empty list",
        ),
    ),
)
"""``land.parcel.search`` v1."""


def _certificate(parcel: dict[str, Any]) -> dict[str, Any]:
    return {**parcel["giayChungNhan"], "chuSuDung": parcel["chuSuDung"], "thuaDat": [parcel]}


CERTIFICATE_LOOKUP_V1 = ServiceContract(
    service="land.certificate.lookup",
    version=1,
    owner=PARCEL_LOOKUP_V1.owner,
    description="Look a land-use right certificate up by its issue number (số phát hành): "
    "register entry, date of issue, land users and the parcel(s) it covers.",
    request=YeuCauTraCuuGiayChungNhan,
    response=GiayChungNhanQuyenSuDungDat,
    errors=(ErrorSpec(404, "land.certificate.not_found", "No certificate with this issue number"),),
    examples=(
        Example(
            request={"soPhatHanh": "DA 123456"},
            response=_certificate(_HOUSE),
            title="The certificate of a couple's house plot",
        ),
        Example(
            request={"soPhatHanh": "BK 045678"},
            response=_certificate(_RICE_FIELD),
            title="An older certificate, for a mortgaged rice field",
        ),
    ),
)
"""``land.certificate.lookup`` v1."""

TOPICS: tuple[TopicContract, ...] = ()


# -- the batch pull: every parcel, page by page -------------------------------

KhoaThuaDat = Annotated[str, StringConstraints(pattern=r"^[0-9]{5}/[0-9]{1,4}/[0-9]{1,4}$")]
"""A parcel's key in snapshot order, ``<maXa>/<soHieuToBanDo>/<soThuTuThua>``."""


class YeuCauSaoChepThuaDat(Contract):
    """Request of ``land.parcel.snapshot``: one page of the land database's
    parcels in key order (commune, sheet, parcel), for systems that keep a
    copy (the shared data warehouse pulls it on a schedule)."""

    maXa: MaXa | None = Field(
        default=None, description="Only the parcels of this commune (mã xã); default all."
    )
    sauKhoa: KhoaThuaDat | None = Field(
        default=None,
        description="Start after this parcel key (sau khóa), as the previous page's "
        "khoaTiepTheo gave it; default from the first parcel.",
    )
    soBanGhi: int = Field(
        default=1000, ge=1, le=5000, description="Parcels per page (số bản ghi), 1 to 5000."
    )


class TrangThuaDat(Contract):
    """Response of ``land.parcel.snapshot``: a page of parcels, each with its
    uses, land users and certificate."""

    danhSach: list[ThuaDat] = Field(description="The parcels of this page, in key order.")
    khoaTiepTheo: KhoaThuaDat | None = Field(
        description="The key to ask the next page after (khóa tiếp theo); null on the last page."
    )


def _key(parcel: dict[str, Any]) -> str:
    return f"{parcel['maXa']}/{parcel['soHieuToBanDo']}/{parcel['soThuTuThua']}"


def _before(parcel: dict[str, Any]) -> str:
    """The key just before a parcel's on its sheet, to start a page at it."""
    return f"{parcel['maXa']}/{parcel['soHieuToBanDo']}/{parcel['soThuTuThua'] - 1}"


PARCEL_SNAPSHOT_V1 = ServiceContract(
    service="land.parcel.snapshot",
    version=1,
    owner=PARCEL_LOOKUP_V1.owner,
    description="Every parcel of the land database, a page at a time, in key order (commune, "
    "map sheet, parcel number), optionally of one commune: for systems that keep a copy, "
    "such as the shared data warehouse's scheduled pull. Ask the next page after the "
    "previous one's khoaTiepTheo until it is null. A page past the last parcel, or of a "
    "commune without parcels, is empty, not an error.",
    request=YeuCauSaoChepThuaDat,
    response=TrangThuaDat,
    # No domain error: nothing to report is an empty page.
    examples=(
        Example(
            request={"sauKhoa": _before(_HOUSE), "soBanGhi": 1},
            response={"danhSach": [_HOUSE], "khoaTiepTheo": _key(_HOUSE)},
            title="One parcel a page, across the province: more follow",
        ),
        Example(
            request={"maXa": _RICE_FIELD["maXa"], "sauKhoa": _before(_RICE_FIELD)},
            response={"danhSach": [_RICE_FIELD], "khoaTiepTheo": None},
            title="The last page of a commune",
        ),
    ),
)
"""``land.parcel.snapshot`` v1."""

SERVICES = (PARCEL_LOOKUP_V1, PARCEL_SEARCH_V1, CERTIFICATE_LOOKUP_V1, PARCEL_SNAPSHOT_V1)

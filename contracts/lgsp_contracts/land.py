"""The provincial land database (Cơ sở dữ liệu đất đai, run by the Department
of Agriculture and Environment): looking a parcel up.

Field names follow VBDLIS, the land information system the provinces run.
Areas are square metres with one decimal; the parts of ``mucDichSuDung`` add
up to ``dienTichPhapLy``.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from lgsp_contracts.fields import CaNhan, DiaChi, MaXa, SoHieu, TenDonVi, ThamChieuThuaDat
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


class GiayChungNhan(Contract):
    """The land-use right certificate (giấy chứng nhận quyền sử dụng đất)."""

    soPhatHanh: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2} [0-9]{6}$")] = Field(
        description="Issue number printed on the certificate (số phát hành): two letters, a "
        "space, six digits, e.g. 'DA 123456'."
    )
    soVaoSo: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}[0-9]{5}$")] = Field(
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


_HUNG = {"soDinhDanh": "087090001234", "hoVaTen": "Nguyễn Văn Hùng"}
_HONG = {"soDinhDanh": "087192004321", "hoVaTen": "Lê Thị Hồng"}

# Pinned into the mock's synthetic data (lgsp_adapters.dataset) with their
# owners, the demo family of population.citizen.lookup's examples.
_HOUSE = {
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
_RICE_FIELD = {
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

SERVICES = (PARCEL_LOOKUP_V1,)
TOPICS: tuple[TopicContract, ...] = ()

"""The provincial one-stop-shop (Hệ thống thông tin giải quyết thủ tục hành
chính, "một cửa điện tử"): submitting a dossier, and the dossier's status
events that the national public service portal synchronises.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Final, Literal

from pydantic import AwareDatetime, Field, StringConstraints

from lgsp_contracts.fields import CaNhan, ThamChieuThuaDat
from lgsp_contracts.spec import Contract, ErrorSpec, Example, ServiceContract, TopicContract

OWNER: Final = "UBND tỉnh Đồng Tháp — Hệ thống thông tin giải quyết thủ tục hành chính (mock)"

# Dossier statuses are the national public service portal's synchronisation
# codes (TrangThaiHoSo of DongBoHoSoMC / TrangThai of CapNhatTienDoHoSoMC), as
# the one-stop systems that sync to it use them. The lifecycle of DOMAIN.md
# maps onto them: received 2 -> in processing 4 -> (additional documents
# requested 5 <-> 4) -> done 9 -> result returned 10; or rejected 3 /
# withdrawn 7.
TrangThaiHoSo = Literal["1", "2", "3", "4", "5", "6", "7", "8", "9", "10"]
TRANG_THAI_HO_SO: Final[dict[str, str]] = {
    "1": "Mới đăng ký",
    "2": "Được tiếp nhận",
    "3": "Không được tiếp nhận",
    "4": "Đang xử lý",
    "5": "Yêu cầu bổ sung giấy tờ",
    "6": "Yêu cầu thực hiện nghĩa vụ tài chính",
    "7": "Công dân yêu cầu rút hồ sơ",
    "8": "Dừng xử lý",
    "9": "Đã xử lý xong",
    "10": "Đã trả kết quả",
}
DA_TIEP_NHAN: Final = "2"
"""The status of a dossier the counter has just received."""

_STATUS_HELP = "; ".join(f"'{code}' {label}" for code, label in TRANG_THAI_HO_SO.items())

MaTTHC = Annotated[
    str,
    StringConstraints(
        pattern=r"^[0-9]\.[0-9]{6}(\.([0-9]{3}\.[0-9]{2}\.[0-9]{2}\.)?[A-Z][0-9]{2})?$"
    ),
]
MaHoSo = Annotated[
    str,
    StringConstraints(pattern=r"^[0-9]{3}\.[0-9]{2}\.[0-9]{2}\.[A-Z][0-9]{2}-[0-9]{6}-[0-9]{4}$"),
]


@dataclass(frozen=True)
class ThuTuc:
    """An administrative procedure the mock one-stop-shop accepts."""

    ma_tthc: str
    ten_tthc: str
    so_ngay_xu_ly: int
    """Processing time in working days."""
    linh_vuc: str
    can_thua_dat: bool
    """Whether a dossier must name the parcel it is about."""


# Real national procedure codes (Cơ sở dữ liệu quốc gia về thủ tục hành chính,
# as dichvucong.gov.vn and provinces' published procedure lists show them).
# Processing times: civil status, 3 working days (Law on Civil Status
# Art. 28; Decree 123/2015/NĐ-CP Art. 22); land, 8 working days for a
# transfer and 12 for splitting or merging parcels, as published in
# provinces' 2025 procedure lists (after Decree 151/2025/NĐ-CP). A province
# may shorten them; the mock keeps these.
THU_TUC: Final[tuple[ThuTuc, ...]] = (
    ThuTuc("1.004873", "Cấp Giấy xác nhận tình trạng hôn nhân", 3, "Hộ tịch", False),
    ThuTuc(
        "1.004859",
        "Thay đổi, cải chính, bổ sung thông tin hộ tịch, xác định lại dân tộc",
        3,
        "Hộ tịch",
        False,
    ),
    ThuTuc(
        "1.013831",
        "Đăng ký biến động quyền sử dụng đất, quyền sở hữu tài sản gắn liền với đất trong các "
        "trường hợp chuyển đổi, chuyển nhượng, thừa kế, tặng cho, góp vốn",
        8,
        "Đất đai",
        True,
    ),
    ThuTuc("1.012784", "Tách thửa hoặc hợp thửa đất", 12, "Đất đai", True),
)

_PROCEDURE_HELP = "; ".join(f"{t.ma_tthc} ({t.so_ngay_xu_ly} working days)" for t in THU_TUC)


class YeuCauNopHoSo(Contract):
    """Request of ``onestop.dossier.submit``: a dossier handed in at the
    counter (or online) for one administrative procedure."""

    maTTHC: MaTTHC = Field(
        description="National code of the administrative procedure (mã thủ tục hành chính), "
        "e.g. '1.004873', optionally suffixed with an agency code ('1.013831.H20'). The mock "
        f"knows: {_PROCEDURE_HELP}."
    )
    chuHoSo: CaNhan = Field(description="The applicant (chủ hồ sơ): personal id and full name.")
    soDienThoai: Annotated[str, StringConstraints(pattern=r"^0[0-9]{9}$")] | None = Field(
        default=None, description="The applicant's phone number (số điện thoại), 10 digits from 0."
    )
    email: (
        Annotated[str, StringConstraints(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=254)]
        | None
    ) = Field(default=None, description="The applicant's e-mail address (thư điện tử).")
    ngayTiepNhan: AwareDatetime | None = Field(
        default=None,
        description="When the counter received the dossier (ngày tiếp nhận), ISO 8601 with "
        "offset; default now (Asia/Ho_Chi_Minh). Never in the future.",
    )
    thuaDat: ThamChieuThuaDat | None = Field(
        default=None,
        description="The parcel the dossier is about (thửa đất); required by land procedures.",
    )


class BienNhanHoSo(Contract):
    """Response of ``onestop.dossier.submit``: the receipt (giấy tiếp nhận hồ
    sơ và hẹn trả kết quả)."""

    maHoSo: MaHoSo = Field(
        description="Dossier number (mã hồ sơ), '<agency code>-YYMMDD-NNNN' per Circular "
        "01/2018/TT-VPCP: the receiving agency's QCVN 102:2016 code, the day of receipt, and "
        "the dossier's rank that day."
    )
    maTTHC: MaTTHC = Field(description="The procedure code, as submitted (mã thủ tục hành chính).")
    tenTTHC: Annotated[str, StringConstraints(min_length=2, max_length=500)] = Field(
        description="The procedure's name (tên thủ tục hành chính)."
    )
    ngayTiepNhan: AwareDatetime = Field(
        description="When the dossier was received (ngày tiếp nhận), Asia/Ho_Chi_Minh (+07:00)."
    )
    ngayHenTra: AwareDatetime = Field(
        description="When the result is due (ngày hẹn trả): receipt plus the procedure's "
        "processing time in working days, skipping weekends and public holidays; a dossier "
        "received on a day off counts from the next working day."
    )
    trangThai: TrangThaiHoSo = Field(
        description=f"Dossier status (trạng thái hồ sơ), national portal code: {_STATUS_HELP}."
    )


class SuKienTrangThaiHoSo(Contract):
    """Payload of ``onestop.dossier.status-changed``: one step of a dossier."""

    maHoSo: MaHoSo = Field(description="Dossier number (mã hồ sơ).")
    maTTHC: MaTTHC = Field(description="The procedure code (mã thủ tục hành chính).")
    trangThaiCu: TrangThaiHoSo | None = Field(
        default=None, description="Previous status (trạng thái cũ); null for a new dossier."
    )
    trangThai: TrangThaiHoSo = Field(
        description=f"New status (trạng thái), national portal code: {_STATUS_HELP}."
    )
    thoiDiem: AwareDatetime = Field(description="When the status changed (thời điểm), ISO 8601.")
    ghiChu: Annotated[str, StringConstraints(max_length=500)] | None = Field(
        default=None, description="Note on the step (ghi chú)."
    )


_HONG = {"soDinhDanh": "087192004321", "hoVaTen": "Lê Thị Hồng"}
_HUNG = {"soDinhDanh": "087090001234", "hoVaTen": "Nguyễn Văn Hùng"}

DOSSIER_SUBMIT_V1 = ServiceContract(
    service="onestop.dossier.submit",
    version=1,
    owner=OWNER,
    description="Submit a dossier for an administrative procedure: the one-stop-shop numbers "
    "it, computes the due date in working days, and publishes "
    "onestop.dossier.status-changed (status '2', received).",
    request=YeuCauNopHoSo,
    response=BienNhanHoSo,
    errors=(
        ErrorSpec(404, "onestop.procedure.unknown", "The one-stop-shop has no such procedure"),
        ErrorSpec(
            422,
            "onestop.dossier.rejected",
            "Dossier refused at the counter: received in the future, or a land procedure "
            "without its parcel",
        ),
    ),
    # Real on a fresh bus: each is the first dossier received on its day.
    examples=(
        Example(
            request={
                "maTTHC": "1.004873",
                "chuHoSo": _HONG,
                "email": "hong.le@example.com",
                "ngayTiepNhan": "2025-06-06T09:30:00+07:00",
            },
            response={
                "maHoSo": "000.00.00.H20-250606-0001",
                "maTTHC": "1.004873",
                "tenTTHC": "Cấp Giấy xác nhận tình trạng hôn nhân",
                "ngayTiepNhan": "2025-06-06T09:30:00+07:00",
                "ngayHenTra": "2025-06-11T09:30:00+07:00",
                "trangThai": "2",
            },
            title="Civil status, 3 working days over a weekend",
        ),
        Example(
            request={
                "maTTHC": "1.013831",
                "chuHoSo": _HUNG,
                "ngayTiepNhan": "2025-01-24T14:00:00+07:00",
                "thuaDat": {"maXa": "29869", "soHieuToBanDo": 12, "soThuTuThua": 345},
            },
            response={
                "maHoSo": "000.00.00.H20-250124-0001",
                "maTTHC": "1.013831",
                "tenTTHC": THU_TUC[2].ten_tthc,
                "ngayTiepNhan": "2025-01-24T14:00:00+07:00",
                "ngayHenTra": "2025-02-12T14:00:00+07:00",
                "trangThai": "2",
            },
            title="Land transfer, 8 working days across Tết 2025",
        ),
    ),
)
"""``onestop.dossier.submit`` v1."""

DOSSIER_STATUS_CHANGED_V1 = TopicContract(
    topic="onestop.dossier.status-changed",
    version=1,
    owner=OWNER,
    description="A dossier changed status (national portal codes); the national public "
    "service portal synchronises every step (CapNhatTienDoHoSoMC).",
    payload=SuKienTrangThaiHoSo,
    examples=(
        {
            "maHoSo": "000.00.00.H20-250606-0001",
            "maTTHC": "1.004873",
            "trangThaiCu": None,
            "trangThai": "2",
            "thoiDiem": "2025-06-06T09:30:00+07:00",
            "ghiChu": "Tiếp nhận hồ sơ",
        },
        {
            "maHoSo": "000.00.00.H20-250606-0001",
            "maTTHC": "1.004873",
            "trangThaiCu": "2",
            "trangThai": "4",
            "thoiDiem": "2025-06-06T10:15:00+07:00",
            "ghiChu": "Chuyển bộ phận chuyên môn xử lý",
        },
    ),
)
"""``onestop.dossier.status-changed`` v1."""

SERVICES = (DOSSIER_SUBMIT_V1,)
TOPICS = (DOSSIER_STATUS_CHANGED_V1,)

"""The provincial one-stop-shop (Hệ thống thông tin giải quyết thủ tục hành
chính, "một cửa điện tử"): submitting a dossier, following it and moving it
along its legal lifecycle, and the status events that the national public
service portal synchronises.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Final, Literal

from pydantic import AwareDatetime, Field, StringConstraints

from lgsp_contracts.fields import SPACE, CaNhan, ThamChieuThuaDat
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

CHUYEN_TRANG_THAI: Final[dict[TrangThaiHoSo, tuple[TrangThaiHoSo, ...]]] = {
    "2": ("4", "3", "7"),
    "4": ("5", "9", "3", "7"),
    "5": ("4", "3", "7"),
    "9": ("10",),
    "3": (),
    "7": (),
    "10": (),
}
"""The legal next statuses of each status a dossier can be in (DOMAIN.md's
lifecycle on the portal codes): received 2 -> in processing 4 ->
(additional documents requested 5 <-> 4) -> done 9 -> result returned 10;
before it is done, a dossier may be refused (3) or withdrawn by the citizen
(7). Refused, withdrawn and returned are final. The portal's other codes
(1 registered online, 6 financial obligation, 8 processing stopped) are not
steps of this one-stop-shop's lifecycle."""

CAN_GHI_CHU: Final[frozenset[TrangThaiHoSo]] = frozenset({"3", "5"})
"""Statuses whose step must say why (ghiChu): a refusal gives its reasons and
a request for documents says which (Circular 01/2018/TT-VPCP, forms "Phiếu
từ chối tiếp nhận giải quyết hồ sơ" and "Phiếu yêu cầu bổ sung, hoàn thiện
hồ sơ")."""

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
GhiChu = Annotated[str, StringConstraints(min_length=1, max_length=500)]


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
        Annotated[
            str,
            StringConstraints(
                pattern=rf"^[^@{SPACE}]+@[^@{SPACE}]+\.[^@{SPACE}]+$", max_length=254
            ),
        ]
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


class YeuCauTraCuuHoSo(Contract):
    """Request of ``onestop.dossier.status``: the dossier's number."""

    maHoSo: MaHoSo = Field(description="Dossier number (mã hồ sơ), as on the receipt.")


class BuocXuLy(Contract):
    """One step of a dossier's history (lịch sử): the status it entered, when,
    and the officer's note."""

    trangThai: TrangThaiHoSo = Field(
        description=f"Status entered (trạng thái), national portal code: {_STATUS_HELP}."
    )
    thoiDiem: AwareDatetime = Field(
        description="When the dossier entered it (thời điểm), Asia/Ho_Chi_Minh (+07:00)."
    )
    ghiChu: GhiChu | None = Field(description="Note on the step (ghi chú); null if none.")


class HoSo(Contract):
    """Response of ``onestop.dossier.status`` and ``onestop.dossier.update-status``:
    a dossier as the one-stop-shop holds it, with its history."""

    maHoSo: MaHoSo = Field(description="Dossier number (mã hồ sơ).")
    maTTHC: MaTTHC = Field(description="The procedure code, as submitted (mã thủ tục hành chính).")
    tenTTHC: Annotated[str, StringConstraints(min_length=2, max_length=500)] = Field(
        description="The procedure's name (tên thủ tục hành chính)."
    )
    chuHoSo: CaNhan = Field(description="The applicant (chủ hồ sơ): personal id and full name.")
    thuaDat: ThamChieuThuaDat | None = Field(
        description="The parcel the dossier is about (thửa đất); null for procedures that "
        "name none."
    )
    ngayTiepNhan: AwareDatetime = Field(
        description="When the dossier was received (ngày tiếp nhận), Asia/Ho_Chi_Minh (+07:00)."
    )
    ngayHenTra: AwareDatetime = Field(
        description="When the result is due (ngày hẹn trả): receipt plus the procedure's "
        "processing time in working days (set at receipt)."
    )
    trangThai: TrangThaiHoSo = Field(
        description=f"Status now (trạng thái), national portal code: {_STATUS_HELP}."
    )
    lichSu: list[BuocXuLy] = Field(
        min_length=1,
        description="Every step (lịch sử), oldest first; the first is the receipt ('2'), the "
        "last the status now.",
    )


class YeuCauCapNhatTrangThai(Contract):
    """Request of ``onestop.dossier.update-status``: move a dossier to its
    next status."""

    maHoSo: MaHoSo = Field(description="Dossier number (mã hồ sơ).")
    trangThai: TrangThaiHoSo = Field(
        description="The status to enter (trạng thái), national portal code; it must be a "
        "legal next status of the dossier's current one."
    )
    ghiChu: GhiChu | None = Field(
        default=None,
        description="Note on the step (ghi chú), up to 500 characters; required when refusing "
        "('3': the reasons) or requesting documents ('5': which ones).",
    )
    thoiDiem: AwareDatetime | None = Field(
        default=None,
        description="When the step happened (thời điểm), ISO 8601 with offset; default now. "
        "Not before the dossier's latest step, never in the future.",
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
    subject="chuHoSo.soDinhDanh",
    purpose="maTTHC",
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


def _step(status: str, at: str, note: str | None) -> dict[str, Any]:
    return {"trangThai": status, "thoiDiem": at, "ghiChu": note}


def _dossier(
    number: str,
    procedure: ThuTuc,
    applicant: dict[str, str],
    parcel: dict[str, Any] | None,
    due: str,
    *steps: dict[str, Any],
) -> dict[str, Any]:
    return {
        "maHoSo": number,
        "maTTHC": procedure.ma_tthc,
        "tenTTHC": procedure.ten_tthc,
        "chuHoSo": applicant,
        "thuaDat": parcel,
        "ngayTiepNhan": steps[0]["thoiDiem"],
        "ngayHenTra": due,
        "trangThai": steps[-1]["trangThai"],
        "lichSu": list(steps),
    }


def _after(dossier: dict[str, Any], step: dict[str, Any]) -> dict[str, Any]:
    """A demo dossier once ``step`` is taken."""
    return {**dossier, "trangThai": step["trangThai"], "lichSu": [*dossier["lichSu"], step]}


_RECEIVED = "Tiếp nhận hồ sơ"
_HOUSE = {"maXa": "29869", "soHieuToBanDo": 12, "soThuTuThua": 345}
_RICE_FIELD = {"maXa": "30037", "soHieuToBanDo": 8, "soThuTuThua": 127}
_PROCEDURE = {t.ma_tthc: t for t in THU_TUC}

# The one-stop-shop's dossiers at start: the family of the population and
# land examples, on days no submit example uses (each is the first dossier
# of its day, so the submit examples keep their numbers). Due dates are
# receipt plus the procedure's working days (checked against the calendar
# when the mock loads them).
_TRANSFER_WAITING = _dossier(
    "000.00.00.H20-250602-0001",
    _PROCEDURE["1.013831"],
    _HUNG,
    _HOUSE,
    "2025-06-12T08:15:00+07:00",
    _step("2", "2025-06-02T08:15:00+07:00", _RECEIVED),
    _step("4", "2025-06-02T10:00:00+07:00", "Chuyển Văn phòng đăng ký đất đai xử lý"),
    _step(
        "5",
        "2025-06-04T15:30:00+07:00",
        "Bổ sung hợp đồng chuyển nhượng quyền sử dụng đất đã công chứng",
    ),
)
_MARITAL_RETURNED = _dossier(
    "000.00.00.H20-250512-0001",
    _PROCEDURE["1.004873"],
    _HONG,
    None,
    "2025-05-15T09:00:00+07:00",
    _step("2", "2025-05-12T09:00:00+07:00", _RECEIVED),
    _step("4", "2025-05-12T09:20:00+07:00", "Chuyển công chức tư pháp - hộ tịch xử lý"),
    _step("9", "2025-05-14T16:00:00+07:00", "Đã ký Giấy xác nhận tình trạng hôn nhân"),
    _step("10", "2025-05-15T08:30:00+07:00", "Trả kết quả tại Bộ phận Một cửa"),
)
_CORRECTION_RECEIVED = _dossier(
    "000.00.00.H20-250603-0001",
    _PROCEDURE["1.004859"],
    _HUNG,
    None,
    "2025-06-06T14:00:00+07:00",
    _step("2", "2025-06-03T14:00:00+07:00", _RECEIVED),
)
_SPLIT_IN_PROCESSING = _dossier(
    "000.00.00.H20-250604-0001",
    _PROCEDURE["1.012784"],
    _HUNG,
    _RICE_FIELD,
    "2025-06-20T10:00:00+07:00",
    _step("2", "2025-06-04T10:00:00+07:00", _RECEIVED),
    _step("4", "2025-06-04T14:00:00+07:00", "Chuyển Văn phòng đăng ký đất đai xử lý"),
)

DEMO_DOSSIERS: Final[tuple[dict[str, Any], ...]] = (
    _TRANSFER_WAITING,
    _MARITAL_RETURNED,
    _CORRECTION_RECEIVED,
    _SPLIT_IN_PROCESSING,
)
"""The dossiers the mock one-stop-shop holds when it starts (as
``onestop.dossier.status`` returns them); the status and update-status
examples are about them."""

DOSSIER_STATUS_V1 = ServiceContract(
    service="onestop.dossier.status",
    version=1,
    owner=OWNER,
    description="A dossier by its number: receipt, applicant, parcel, status now and every "
    "step so far. The examples are demo dossiers the one-stop-shop holds from the start.",
    request=YeuCauTraCuuHoSo,
    response=HoSo,
    errors=(ErrorSpec(404, "onestop.dossier.not_found", "The one-stop-shop has no such dossier"),),
    examples=(
        Example(
            request={"maHoSo": _TRANSFER_WAITING["maHoSo"]},
            response=_TRANSFER_WAITING,
            title="A land transfer waiting for a document",
        ),
        Example(
            request={"maHoSo": _MARITAL_RETURNED["maHoSo"]},
            response=_MARITAL_RETURNED,
            title="A civil status dossier, result returned",
        ),
    ),
)
"""``onestop.dossier.status`` v1."""

_TO_PROCESSING = _step("4", "2025-06-03T15:00:00+07:00", "Chuyển công chức tư pháp - hộ tịch xử lý")
_DOCUMENTS_REQUESTED = _step(
    "5",
    "2025-06-09T09:00:00+07:00",
    "Bổ sung văn bản đồng ý tách thửa của bên nhận thế chấp",
)
_LIFECYCLE_HELP = "; ".join(
    f"'{status}' -> {', '.join(repr(n) for n in following) or 'final'}"
    for status, following in CHUYEN_TRANG_THAI.items()
)

DOSSIER_UPDATE_STATUS_V1 = ServiceContract(
    service="onestop.dossier.update-status",
    version=1,
    owner=OWNER,
    description="Move a dossier to its next status and answer the dossier as it is then. Only "
    f"legal steps are accepted ({_LIFECYCLE_HELP}); each accepted step publishes "
    "onestop.dossier.status-changed. Asking again for the step just taken (same trangThai, "
    "ghiChu and thoiDiem) answers the dossier unchanged, without a second step or event: "
    "retries are safe, and so each example (on a demo dossier held from the start) gives "
    "its response however often it runs.",
    request=YeuCauCapNhatTrangThai,
    response=HoSo,
    errors=(
        ErrorSpec(404, "onestop.dossier.not_found", "The one-stop-shop has no such dossier"),
        ErrorSpec(
            409,
            "onestop.dossier.illegal_transition",
            "Not a legal next status of the dossier's current one (the detail names the "
            "allowed ones)",
        ),
        ErrorSpec(
            422,
            "onestop.dossier.time_invalid",
            "thoiDiem is before the dossier's latest step, or in the future",
        ),
        ErrorSpec(
            422,
            "onestop.dossier.reason_required",
            "Refusing ('3') or requesting documents ('5') needs a ghiChu saying why or which",
        ),
    ),
    examples=(
        Example(
            request={
                "maHoSo": _CORRECTION_RECEIVED["maHoSo"],
                "trangThai": "4",
                "thoiDiem": _TO_PROCESSING["thoiDiem"],
                "ghiChu": _TO_PROCESSING["ghiChu"],
            },
            response=_after(_CORRECTION_RECEIVED, _TO_PROCESSING),
            title="A received dossier goes to processing",
        ),
        Example(
            request={
                "maHoSo": _SPLIT_IN_PROCESSING["maHoSo"],
                "trangThai": "5",
                "thoiDiem": _DOCUMENTS_REQUESTED["thoiDiem"],
                "ghiChu": _DOCUMENTS_REQUESTED["ghiChu"],
            },
            response=_after(_SPLIT_IN_PROCESSING, _DOCUMENTS_REQUESTED),
            title="Splitting a mortgaged field: the mortgagee's consent is requested",
        ),
    ),
)
"""``onestop.dossier.update-status`` v1."""

DOSSIER_STATUS_CHANGED_V1 = TopicContract(
    topic="onestop.dossier.status-changed",
    version=1,
    owner=OWNER,
    description="A dossier changed status (national portal codes): received "
    "(onestop.dossier.submit) or moved on (onestop.dossier.update-status); the national "
    "public service portal synchronises every step (CapNhatTienDoHoSoMC).",
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

TOPICS = (DOSSIER_STATUS_CHANGED_V1,)


# -- the batch pulls: procedures, and dossiers changed since a time -----------


class YeuCauDanhSachThuTuc(Contract):
    """Request of ``onestop.procedure.list``: the procedures the
    one-stop-shop accepts, optionally of one field."""

    linhVuc: Annotated[str, StringConstraints(min_length=2, max_length=100)] | None = Field(
        default=None, description="Only the procedures of this field (lĩnh vực), e.g. 'Đất đai'."
    )


class ThongTinThuTuc(Contract):
    """One administrative procedure (thủ tục hành chính) as the one-stop-shop
    accepts it."""

    maTTHC: MaTTHC = Field(description="National code of the procedure (mã thủ tục hành chính).")
    tenTTHC: Annotated[str, StringConstraints(min_length=2, max_length=500)] = Field(
        description="The procedure's name (tên thủ tục hành chính)."
    )
    linhVuc: Annotated[str, StringConstraints(min_length=2, max_length=100)] = Field(
        description="Its field (lĩnh vực), e.g. 'Hộ tịch', 'Đất đai'."
    )
    soNgayXuLy: int = Field(
        ge=1, le=365, description="Processing time in working days (số ngày xử lý)."
    )
    canThuaDat: bool = Field(description="Whether a dossier must name its parcel (cần thửa đất).")


class DanhSachThuTuc(Contract):
    """Response of ``onestop.procedure.list``."""

    danhSach: list[ThongTinThuTuc] = Field(description="The procedures, by code.")


class YeuCauDanhSachHoSo(Contract):
    """Request of ``onestop.dossier.list``: one page of the dossiers changed
    since a time, in dossier-number order (the warehouse's batch pull)."""

    capNhatTu: AwareDatetime | None = Field(
        default=None,
        description="Only dossiers whose latest step is at or after this time (cập nhật từ), "
        "ISO 8601 with offset; default all.",
    )
    sauMaHoSo: MaHoSo | None = Field(
        default=None,
        description="Start after this dossier number (sau mã hồ sơ), as the previous page's "
        "khoaTiepTheo gave it.",
    )
    soBanGhi: int = Field(
        default=100, ge=1, le=1000, description="Dossiers per page (số bản ghi), 1 to 1000."
    )


class DanhSachHoSo(Contract):
    """Response of ``onestop.dossier.list``."""

    danhSach: list[HoSo] = Field(description="The dossiers of this page, with their history.")
    khoaTiepTheo: MaHoSo | None = Field(
        description="The dossier number to ask the next page after; null on the last page."
    )


def _procedure(t: ThuTuc) -> dict[str, Any]:
    return {
        "maTTHC": t.ma_tthc,
        "tenTTHC": t.ten_tthc,
        "linhVuc": t.linh_vuc,
        "soNgayXuLy": t.so_ngay_xu_ly,
        "canThuaDat": t.can_thua_dat,
    }


_FIELDS = sorted({t.linh_vuc for t in THU_TUC})

PROCEDURE_LIST_V1 = ServiceContract(
    service="onestop.procedure.list",
    version=1,
    owner=OWNER,
    description="The administrative procedures the one-stop-shop accepts, by national code: "
    "name, field (lĩnh vực), processing time in working days and whether a dossier must name "
    f"its parcel; optionally of one field ({', '.join(repr(f) for f in _FIELDS)}). A field "
    "without procedures gives an empty list, not an error.",
    request=YeuCauDanhSachThuTuc,
    response=DanhSachThuTuc,
    # No domain error: a field with no procedure is an empty list.
    examples=(
        Example(
            request={"linhVuc": "Hộ tịch"},
            response={
                "danhSach": [
                    _procedure(t)
                    for t in sorted(THU_TUC, key=lambda t: t.ma_tthc)
                    if t.linh_vuc == "Hộ tịch"
                ]
            },
            title="The civil status procedures",
        ),
        Example(
            request={},
            response={
                "danhSach": [_procedure(t) for t in sorted(THU_TUC, key=lambda t: t.ma_tthc)]
            },
            title="Every procedure",
        ),
        Example(
            request={"linhVuc": "Giáo dục"},
            response={"danhSach": []},
            title="A field the one-stop-shop has no procedure of",
        ),
    ),
)
"""``onestop.procedure.list`` v1."""

# Changed at or after the moment the marital-status result was returned:
# every demo dossier but none the submit examples file on 24 January.
_SINCE = _MARITAL_RETURNED["lichSu"][-1]["thoiDiem"]

DOSSIER_LIST_V1 = ServiceContract(
    service="onestop.dossier.list",
    version=1,
    owner=OWNER,
    description="The dossiers whose latest step is at or after capNhatTu (default all), in "
    "dossier-number order, a page at a time after sauMaHoSo, each with its whole history: "
    "the shared data warehouse's batch pull. khoaTiepTheo is the page's last dossier number "
    "while more follow, null on the last page. Nothing changed is an empty page, not an "
    "error. The examples are about demo dossiers no other example moves.",
    request=YeuCauDanhSachHoSo,
    response=DanhSachHoSo,
    # No domain error: nothing changed since is an empty page.
    examples=(
        Example(
            request={"capNhatTu": _SINCE, "soBanGhi": 1},
            response={"danhSach": [_MARITAL_RETURNED], "khoaTiepTheo": _MARITAL_RETURNED["maHoSo"]},
            title="The first page, one dossier a page: a step at the very moment counts",
        ),
        Example(
            request={
                "capNhatTu": _SINCE,
                "sauMaHoSo": _MARITAL_RETURNED["maHoSo"],
                "soBanGhi": 1,
            },
            response={"danhSach": [_TRANSFER_WAITING], "khoaTiepTheo": _TRANSFER_WAITING["maHoSo"]},
            title="The next page, after the previous one's khoaTiepTheo",
        ),
    ),
)
"""``onestop.dossier.list`` v1."""

SERVICES = (
    DOSSIER_SUBMIT_V1,
    DOSSIER_STATUS_V1,
    DOSSIER_UPDATE_STATUS_V1,
    PROCEDURE_LIST_V1,
    DOSSIER_LIST_V1,
)

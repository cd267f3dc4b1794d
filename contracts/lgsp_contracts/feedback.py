"""Citizens' feedback on administrative procedures, through VNForm (Nền
tảng khảo sát, thu thập ý kiến người dân, the national survey platform):
the one-stop-shop's invitation when a dossier's result is returned, and
each answer as the province receives it from VNForm's signed webhook.

Neither event carries the citizen's personal id: the invitation names the
citizen by a pseudonym the one-stop-shop derives (a keyed hash), and the
answer names only the dossier, its procedure and the agency that handled
it, with the scores and a comment whose personal ids, phone numbers and
e-mail addresses are masked.
"""

from __future__ import annotations

from typing import Annotated, Final

from pydantic import AwareDatetime, Field, StringConstraints

from lgsp_contracts.onestop import OWNER as ONESTOP_OWNER
from lgsp_contracts.onestop import MaHoSo, MaTTHC
from lgsp_contracts.spec import Contract, ServiceContract, TopicContract

CONNECTOR_OWNER: Final = "UBND tỉnh Đồng Tháp — tiếp nhận phản hồi từ VNForm (mock)"

INVITED_TOPIC: Final = "onestop.feedback.invited"
SUBMITTED_TOPIC: Final = "vnform.feedback.submitted"

DIEM_HAI_LONG: Final[dict[int, str]] = {
    1: "Rất không hài lòng",
    2: "Không hài lòng",
    3: "Bình thường",
    4: "Hài lòng",
    5: "Rất hài lòng",
}
"""The five-point scale of every score (mức độ hài lòng); 4 and 5 count as
satisfied."""
HAI_LONG_TU: Final = 4
"""The lowest score that counts as satisfied (hài lòng)."""

Diem = Annotated[int, Field(ge=1, le=5)]
MaDonVi = Annotated[
    str, StringConstraints(pattern=r"^[0-9]{3}\.[0-9]{2}\.[0-9]{2}\.[A-Z][0-9]{2}$")
]
"""An agency code in the QCVN 102:2016 form (``000.00.00.H20``)."""
ThamChieuCongDan = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")]
"""A citizen's pseudonym: 32 hex digits of a keyed hash of the personal id."""
MaBieuMau = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9.-]{2,63}$")]
MaPhanHoi = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{24}$")]
GopY = Annotated[str, StringConstraints(min_length=1, max_length=1000)]


class LoiMoiKhaoSat(Contract):
    """Payload of ``onestop.feedback.invited``: a citizen is invited to
    rate how a dossier was handled (lời mời khảo sát)."""

    maHoSo: MaHoSo = Field(description="Dossier number (mã hồ sơ).")
    maTTHC: MaTTHC = Field(description="The procedure code (mã thủ tục hành chính).")
    maDonVi: MaDonVi = Field(
        description="The agency that handled the dossier (mã đơn vị), QCVN 102:2016 form: "
        "the prefix of the dossier number."
    )
    thamChieuCongDan: ThamChieuCongDan = Field(
        description="The applicant as a pseudonym (tham chiếu công dân): 32 hex digits of "
        "HMAC-SHA256 of the personal id under the one-stop-shop's key, so that VNForm can "
        "reach the citizen's account without the bus carrying the id."
    )
    thoiDiem: AwareDatetime = Field(
        description="When the result was returned (thời điểm trả kết quả), ISO 8601."
    )


class PhanHoiKhaoSat(Contract):
    """Payload of ``vnform.feedback.submitted``: one citizen's answer to a
    procedure's survey (phản hồi khảo sát), de-identified."""

    maPhanHoi: MaPhanHoi = Field(
        description="VNForm's submission id (mã phản hồi), 24 hex digits: the same answer "
        "delivered twice has the same one."
    )
    maBieuMau: MaBieuMau = Field(description="The survey form (mã biểu mẫu) answered.")
    maHoSo: MaHoSo = Field(description="The dossier the answer is about (mã hồ sơ).")
    maTTHC: MaTTHC = Field(description="Its procedure (mã thủ tục hành chính).")
    maDonVi: MaDonVi = Field(description="The agency that handled it (mã đơn vị).")
    diemTongThe: Diem = Field(
        description="Overall satisfaction with how the procedure was handled (tổng thể), "
        "1 (very dissatisfied) to 5 (very satisfied)."
    )
    diemThoiGian: Diem = Field(
        description="Satisfaction with the time it took against the appointment "
        "(thời gian giải quyết), 1 to 5."
    )
    diemThaiDo: Diem = Field(
        description="Satisfaction with the officers' attitude (thái độ phục vụ), 1 to 5."
    )
    gopY: GopY | None = Field(
        default=None,
        description="The citizen's comment (góp ý), if any, with every 12-digit number "
        "(a personal id), phone number and e-mail address in it masked.",
    )
    thoiDiem: AwareDatetime = Field(
        description="When the citizen answered (thời điểm), ISO 8601, Asia/Ho_Chi_Minh."
    )


_RETURNED = {
    "maHoSo": "000.00.00.H20-250512-0001",
    "maTTHC": "1.004873",
    "maDonVi": "000.00.00.H20",
}

FEEDBACK_INVITED_V1 = TopicContract(
    topic=INVITED_TOPIC,
    version=1,
    owner=ONESTOP_OWNER,
    description="The one-stop-shop returned a dossier's result (status '10') and invites "
    "its applicant to rate the service: the province's VNForm connector creates the "
    "invitation on VNForm, which reaches the citizen. At least once per returned dossier; "
    "VNForm keeps one invitation per form and dossier.",
    payload=LoiMoiKhaoSat,
    examples=(
        {
            **_RETURNED,
            "thamChieuCongDan": "5f0c1e2d3b4a59687766554433221100",
            "thoiDiem": "2025-05-15T08:30:00+07:00",
        },
    ),
)
"""``onestop.feedback.invited`` v1."""

FEEDBACK_SUBMITTED_V1 = TopicContract(
    topic=SUBMITTED_TOPIC,
    version=1,
    owner=CONNECTOR_OWNER,
    description="A citizen answered a procedure's survey on VNForm: the province received "
    "VNForm's webhook, verified its Ed25519 signature and timestamp, refused it if forged "
    "or replayed, and publishes the answer de-identified (no personal id; the comment "
    "masked). The shared data warehouse aggregates satisfaction per procedure and agency.",
    payload=PhanHoiKhaoSat,
    examples=(
        {
            "maPhanHoi": "6650a1b2c3d4e5f601234567",
            "maBieuMau": "khao-sat-1.004873",
            **_RETURNED,
            "diemTongThe": 5,
            "diemThoiGian": 4,
            "diemThaiDo": 5,
            "gopY": "Cán bộ hướng dẫn tận tình, trả kết quả đúng hẹn.",
            "thoiDiem": "2025-05-15T10:02:11+07:00",
        },
    ),
)
"""``vnform.feedback.submitted`` v1."""

SERVICES: tuple[ServiceContract, ...] = ()
TOPICS = (FEEDBACK_INVITED_V1, FEEDBACK_SUBMITTED_V1)

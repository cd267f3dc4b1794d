"""The national public service portal (Cổng Dịch vụ công quốc gia, DVCQG),
reached through NDXP: provinces synchronise every dossier and every status
change of it to the portal.

On the bus the sync is one idempotent call carrying the dossier's snapshot and
its current status; the NDXP connector turns it into the portal's native
``DongBoHoSoMC`` (first sync of a dossier) or ``CapNhatTienDoHoSoMC`` (a
progress step) with ``yyyyMMddHHmmss`` times in Asia/Ho_Chi_Minh.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AwareDatetime, Field, StringConstraints

from lgsp_contracts.fields import CaNhan
from lgsp_contracts.onestop import TrangThaiHoSo
from lgsp_contracts.spec import Contract, ErrorSpec, Example, ServiceContract, TopicContract

OWNER = "Văn phòng Chính phủ — Cổng Dịch vụ công quốc gia, qua NDXP (mock)"

MaHoSo = Annotated[str, StringConstraints(pattern=r"^[0-9A-Z.]+-[0-9]{6}-[0-9]{4}$")]


class YeuCauDongBoHoSo(Contract):
    """A dossier's snapshot and current status, to synchronise to the portal."""

    maHoSo: MaHoSo = Field(description="Dossier code (mã hồ sơ), Circular 01/2018/TT-VPCP.")
    maTTHC: Annotated[str, StringConstraints(min_length=3, max_length=40)] = Field(
        description="National procedure code (mã thủ tục hành chính)."
    )
    tenTTHC: Annotated[str, StringConstraints(min_length=3, max_length=300)] = Field(
        description="Procedure name (tên thủ tục hành chính)."
    )
    chuHoSo: CaNhan = Field(description="The applicant (chủ hồ sơ).")
    ngayTiepNhan: AwareDatetime = Field(description="When the dossier was received.")
    ngayHenTra: AwareDatetime = Field(description="When the result is due.")
    trangThai: TrangThaiHoSo = Field(description="The dossier's status now (portal code).")
    thoiDiem: AwareDatetime = Field(description="When the dossier entered this status.")
    ghiChu: Annotated[str, StringConstraints(max_length=500)] | None = Field(
        default=None, description="Note on this step (ghi chú), e.g. what documents are missing."
    )


class KetQuaDongBo(Contract):
    """The portal's acknowledgement of a sync."""

    maHoSo: MaHoSo = Field(description="The dossier synchronised.")
    trangThai: TrangThaiHoSo = Field(description="The status the portal now holds.")
    soLanDongBo: int = Field(
        ge=1, description="How many distinct statuses of this dossier the portal holds."
    )


_EXAMPLE_REQUEST = {
    "maHoSo": "000.00.00.H20-250606-0001",
    "maTTHC": "1.004873",
    "tenTTHC": "Cấp Giấy xác nhận tình trạng hôn nhân",
    "chuHoSo": {"soDinhDanh": "087192004321", "hoVaTen": "Lê Thị Hồng"},
    "ngayTiepNhan": "2025-06-06T09:30:00+07:00",
    "ngayHenTra": "2025-06-11T09:30:00+07:00",
    "trangThai": "2",
    "thoiDiem": "2025-06-06T09:30:00+07:00",
}

DOSSIER_SYNC_V1 = ServiceContract(
    service="dvcqg.dossier.sync",
    version=1,
    owner=OWNER,
    description="Synchronise a dossier and its current status to the national public "
    "service portal (DongBoHoSoMC / CapNhatTienDoHoSoMC through NDXP). Idempotent: "
    "syncing the same status again changes nothing.",
    request=YeuCauDongBoHoSo,
    response=KetQuaDongBo,
    subject="chuHoSo.soDinhDanh",
    purpose="maTTHC",
    errors=(ErrorSpec(422, "dvcqg.dossier.rejected", "The portal refused the dossier's data"),),
    examples=(
        Example(
            title="A dossier received at the one-stop-shop",
            request=_EXAMPLE_REQUEST,
            response={"maHoSo": "000.00.00.H20-250606-0001", "trangThai": "2", "soLanDongBo": 1},
        ),
    ),
)

SERVICES = (DOSSIER_SYNC_V1,)
TOPICS: tuple[TopicContract, ...] = ()

__all__ = ["DOSSIER_SYNC_V1", "SERVICES", "TOPICS", "KetQuaDongBo", "YeuCauDongBoHoSo"]

"""Mock of the provincial one-stop-shop (Hệ thống thông tin giải quyết thủ
tục hành chính): it receives dossiers, numbers them, sets their due date in
working days, keeps them in memory and announces every status change on
``onestop.dossier.status-changed``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Final

import structlog
from lgsp_contracts.fields import CaNhan, ThamChieuThuaDat
from lgsp_contracts.onestop import (
    DA_TIEP_NHAN,
    OWNER,
    THU_TUC,
    BienNhanHoSo,
    SuKienTrangThaiHoSo,
    ThuTuc,
    TrangThaiHoSo,
    YeuCauNopHoSo,
)

from lgsp import Adapter, Context, DomainError
from lgsp_adapters.workdays import VN_TZ, add_working_days

log = structlog.get_logger("lgsp_adapters.onestop")

adapter = Adapter("onestop", agency=OWNER)

AGENCY_CODE: Final = "000.00.00.H20"
"""The receiving agency in dossier numbers (QCVN 102:2016 form): Đồng Tháp
People's Committee, as the province's own one-stop system (OpenCPS) names it,
with its departments numbering dossiers like ``000.00.14.H20-200703-0002``.
That is the pre-2025 province's code; whether the merged province kept it
is not verified, so for the post-2025 Đồng Tháp it is illustrative."""

PROCEDURES: Final[dict[str, ThuTuc]] = {t.ma_tthc: t for t in THU_TUC}
UNKNOWN_PROCEDURE: Final = "onestop.procedure.unknown"
REJECTED: Final = "onestop.dossier.rejected"
STATUS_TOPIC: Final = "onestop.dossier.status-changed"
# Clocks differ a little between a counter's PC and the server.
_CLOCK_SKEW: Final = dt.timedelta(minutes=5)


Receipt = tuple[str, str, dt.datetime, ThamChieuThuaDat | None]
"""What makes two submissions the same dossier: procedure, applicant, time
of receipt and parcel."""


@dataclass
class Dossier:
    """A dossier (hồ sơ) as the one-stop-shop keeps it."""

    ma_ho_so: str
    ma_tthc: str
    procedure: ThuTuc
    applicant: CaNhan
    parcel: ThamChieuThuaDat | None
    received: dt.datetime
    due: dt.datetime
    status: TrangThaiHoSo
    history: list[tuple[TrangThaiHoSo, dt.datetime]] = field(default_factory=list)
    announced: bool = False
    """Whether its latest status was published (the portal heard of it)."""


class DossierBook:
    """The one-stop-shop's dossiers, in memory, numbered per day of receipt
    (Circular 01/2018/TT-VPCP: ``<agency code>-YYMMDD-NNNN``).

    The same dossier handed in twice (same procedure, applicant, time of
    receipt and parcel) is one dossier: the second submission gets the first
    one's receipt."""

    def __init__(self) -> None:
        self._dossiers: dict[str, Dossier] = {}
        self._receipts: dict[Receipt, str] = {}
        self._numbered: dict[dt.date, int] = {}

    def receive(self, request: YeuCauNopHoSo, procedure: ThuTuc, received: dt.datetime) -> Dossier:
        """The dossier of this submission: the one already received, or a
        new one numbered on its day of receipt."""
        key: Receipt = (procedure.ma_tthc, request.chuHoSo.soDinhDanh, received, request.thuaDat)
        known = self._receipts.get(key)
        if known is not None:
            return self._dossiers[known]
        dossier = Dossier(
            ma_ho_so=self._number(received),
            ma_tthc=request.maTTHC,
            procedure=procedure,
            applicant=request.chuHoSo,
            parcel=request.thuaDat,
            received=received,
            due=add_working_days(received, procedure.so_ngay_xu_ly),
            status=DA_TIEP_NHAN,
            history=[(DA_TIEP_NHAN, received)],
        )
        self._dossiers[dossier.ma_ho_so] = dossier
        self._receipts[key] = dossier.ma_ho_so
        return dossier

    def _number(self, received: dt.datetime) -> str:
        day = received.astimezone(VN_TZ).date()
        rank = self._numbered.get(day, 0) + 1
        if rank > 9999:
            raise DomainError(REJECTED, "the agency has numbered 9999 dossiers on that day")
        self._numbered[day] = rank
        return f"{AGENCY_CODE}-{day:%y%m%d}-{rank:04d}"

    def get(self, ma_ho_so: str) -> Dossier | None:
        return self._dossiers.get(ma_ho_so)

    def __len__(self) -> int:
        return len(self._dossiers)

    def clear(self) -> None:
        """Forget every dossier and restart numbering (a fresh one-stop-shop)."""
        self._dossiers.clear()
        self._receipts.clear()
        self._numbered.clear()


dossiers = DossierBook()
"""This process's one-stop-shop."""


@adapter.service("onestop.dossier.submit", version=1)
async def dossier_submit(request: YeuCauNopHoSo, ctx: Context) -> BienNhanHoSo:
    """``onestop.dossier.submit`` v1."""
    # The national code without any agency suffix ("1.013831.H20").
    procedure = PROCEDURES.get(request.maTTHC[:8])
    if procedure is None:
        raise DomainError(UNKNOWN_PROCEDURE, f"the one-stop-shop has no procedure {request.maTTHC}")
    now = dt.datetime.now(VN_TZ).replace(microsecond=0)
    received = (request.ngayTiepNhan or now).astimezone(VN_TZ)
    if received > now + _CLOCK_SKEW:
        raise DomainError(REJECTED, "ngayTiepNhan is in the future")
    if procedure.can_thua_dat and request.thuaDat is None:
        raise DomainError(REJECTED, f"procedure {procedure.ma_tthc} needs the parcel (thuaDat)")

    dossier = dossiers.receive(request, procedure, received)
    if not dossier.announced:
        # Kept first, announced after: if publishing fails, the caller gets
        # an error, and submitting again announces the same dossier.
        await ctx.publish(
            STATUS_TOPIC,
            SuKienTrangThaiHoSo(
                maHoSo=dossier.ma_ho_so,
                maTTHC=dossier.ma_tthc,
                trangThaiCu=None,
                trangThai=dossier.status,
                thoiDiem=dossier.received,
                ghiChu="Tiếp nhận hồ sơ",
            ),
        )
        dossier.announced = True
    log.info(
        "dossier.received",
        request_id=ctx.request_id,
        client=ctx.client,
        ma_ho_so=dossier.ma_ho_so,
        ma_tthc=procedure.ma_tthc,
        due=dossier.due.isoformat(),
    )
    return BienNhanHoSo(
        maHoSo=dossier.ma_ho_so,
        maTTHC=dossier.ma_tthc,
        tenTTHC=procedure.ten_tthc,
        ngayTiepNhan=dossier.received,
        ngayHenTra=dossier.due,
        trangThai=dossier.status,
    )
